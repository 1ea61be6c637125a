// The demo page: this browser is a localpush device. It speaks the localpush protocol over WebSocket
// (hello, heartbeat_ack, ack; docs/protocol.md) to receive, and uses the chat routes (POST
// /v1/chat/send, GET /v1/chat/directory; docs/simplepush.md "One world") to send. Plain script, no
// build step, no framework.
/* global window, document, WebSocket, fetch, btoa, crypto, setTimeout, setInterval, clearInterval, sessionStorage, location */
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const HEARTBEAT_TIMEOUT_MS = 60_000;

  const state = {
    /** { deviceId, name, credential, wsPort, wsPath } */
    me: null,
    ws: null,
    online: false,
    /** Everyone else reachable now: { id, name, kind } */
    people: [],
    selected: null,
    /** peer id → [{ mine, text, receipt?, event? }] */
    conversations: new Map(),
    unread: new Map(),
    /** Push ids already handled: a push is redelivered until acked, and shown once. */
    seen: new Set(),
    /** { peer, peerName, callId, phase: 'outgoing'|'incoming'|'active', since? } */
    call: null,
    callTimer: null,
    lastHeartbeat: 0,
  };

  // ── Joining ─────────────────────────────────────────────────────────────────────────────────────

  $('join-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('name').value.trim();
    if (!name) return;
    const response = await fetch('/demo/join', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (!response.ok) {
      $('join-error').textContent = `Could not join (${response.status})`;
      $('join-error').hidden = false;
      return;
    }
    start(await response.json());
  });

  function start(me) {
    state.me = me;
    // Reloading the tab keeps the same device.
    sessionStorage.setItem('localpush-demo', JSON.stringify(me));
    $('join').hidden = true;
    $('app').hidden = false;
    $('me').hidden = false;
    $('me').textContent = me.name;
    document.title = `${me.name} · localpush demo`;
    connect();
    refreshPeople();
    setInterval(refreshPeople, 1500);
  }

  // ── The localpush protocol over WebSocket ───────────────────────────────────────────────────────

  function connect() {
    const { deviceId, credential, wsPort, wsPath } = state.me;
    const ws = new WebSocket(`ws://${location.hostname}:${wsPort}${wsPath}`);
    state.ws = ws;
    ws.addEventListener('open', () => {
      send({
        type: 'hello',
        version: 1,
        deviceId,
        credential,
        capabilities: [],
        agent: 'localpush-demo-page',
      });
    });
    ws.addEventListener('message', (event) => {
      const message = JSON.parse(event.data);
      switch (message.type) {
        case 'welcome':
          state.lastHeartbeat = Date.now();
          setOnline(true);
          break;
        case 'heartbeat':
          state.lastHeartbeat = Date.now();
          send({ type: 'heartbeat_ack', seq: message.seq });
          break;
        case 'push':
          // Ack once the page has it: the sender then sees ✓✓.
          if (!state.seen.has(message.id)) {
            state.seen.add(message.id);
            onPush(message);
          }
          send({ type: 'ack', ids: [message.id] });
          break;
        case 'goaway':
        case 'error':
          ws.close();
          break;
        default:
          break;
      }
    });
    ws.addEventListener('close', () => {
      if (state.ws !== ws) return;
      setOnline(false);
      setTimeout(connect, 1000);
    });
  }

  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }

  // A connection that stopped hearing heartbeats is dead even if the socket has not noticed.
  setInterval(() => {
    if (state.online && Date.now() - state.lastHeartbeat > HEARTBEAT_TIMEOUT_MS) state.ws.close();
  }, 5000);

  function setOnline(online) {
    state.online = online;
    $('link').textContent = online ? 'connected' : 'reconnecting…';
    $('link').className = `pill ${online ? 'online' : 'offline'}`;
  }

  // ── Chat routes ─────────────────────────────────────────────────────────────────────────────────

  function chat(path, body) {
    const auth = btoa(unescape(encodeURIComponent(`${state.me.deviceId}:${state.me.credential}`)));
    return fetch(path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Basic ${auth}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function refreshPeople() {
    try {
      const response = await chat('/v1/chat/directory');
      if (!response.ok) return;
      const { users } = await response.json();
      state.people = users.filter((u) => u.id !== state.me.deviceId);
      renderPeople();
    } catch {
      // The server may be restarting; the next refresh will tell.
    }
  }

  async function sendText(event) {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text || !state.selected) return;
    $('text').value = '';
    const entry = { mine: true, text, receipt: 'pending' };
    const peer = state.selected;
    append(peer, entry);
    try {
      const response = await chat('/v1/chat/send', { to: peer, text, waitMs: 10_000 });
      const result = await response.json();
      entry.receipt = response.ok ? (result.status === 'delivered' ? 'acked' : 'sent') : 'failed';
    } catch {
      entry.receipt = 'failed';
    }
    if (state.selected === peer) renderMessages();
  }

  function callStep(to, callId, action) {
    return chat('/v1/chat/send', { to, call: { callId, action } }).catch(() => undefined);
  }

  // ── Pushes in the chat convention ───────────────────────────────────────────────────────────────

  function onPush(push) {
    const p = push.payload || {};
    const from = typeof p.from === 'string' ? p.from : 'localpush';
    const fromName = typeof p.fromName === 'string' ? p.fromName : from;
    if (push.kind === 'call' && typeof p.callId === 'string') {
      onCallStep(from, fromName, p.callId, p.action);
      return;
    }
    const text = typeof p.text === 'string' ? p.text : JSON.stringify(p);
    append(from, { mine: false, text });
    if (state.selected !== from) {
      state.unread.set(from, (state.unread.get(from) || 0) + 1);
      renderPeople();
    }
  }

  function onCallStep(from, fromName, callId, action) {
    const call = state.call;
    if (action === 'invite') {
      // Busy: one call at a time.
      if (call) {
        callStep(from, callId, 'unavailable');
        return;
      }
      state.call = { peer: from, peerName: fromName, callId, phase: 'incoming' };
      append(from, { event: `${fromName} is calling` });
      renderCall();
      return;
    }
    if (!call || call.callId !== callId) return;
    if (action === 'connect' && call.phase === 'outgoing') {
      call.phase = 'active';
      call.since = Date.now();
      append(call.peer, { event: `Call with ${call.peerName} connected` });
    } else if (action === 'hangup' || action === 'unavailable') {
      append(call.peer, {
        event: action === 'unavailable' ? `${call.peerName} is unavailable` : `${call.peerName} hung up`,
      });
      state.call = null;
    }
    renderCall();
  }

  function placeCall() {
    if (state.call || !state.selected) return;
    const person = state.people.find((u) => u.id === state.selected);
    const callId = crypto.randomUUID
      ? crypto.randomUUID()
      : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
    state.call = {
      peer: state.selected,
      peerName: person ? person.name : state.selected,
      callId,
      phase: 'outgoing',
    };
    append(state.selected, { event: `Calling ${state.call.peerName}…` });
    renderCall();
    callStep(state.call.peer, callId, 'invite');
  }

  function answer() {
    const call = state.call;
    if (!call || call.phase !== 'incoming') return;
    call.phase = 'active';
    call.since = Date.now();
    callStep(call.peer, call.callId, 'connect');
    append(call.peer, { event: `Call with ${call.peerName} connected` });
    select(call.peer);
    renderCall();
  }

  function endCall(action) {
    const call = state.call;
    if (!call) return;
    state.call = null;
    callStep(call.peer, call.callId, action);
    append(call.peer, { event: action === 'hangup' ? 'You hung up' : 'You declined' });
    renderCall();
  }

  $('call-button').addEventListener('click', placeCall);
  $('answer').addEventListener('click', answer);
  $('decline').addEventListener('click', () => endCall('unavailable'));
  $('hangup').addEventListener('click', () => endCall('hangup'));
  $('send-form').addEventListener('submit', sendText);

  // ── Rendering ───────────────────────────────────────────────────────────────────────────────────

  function append(peer, entry) {
    if (!state.conversations.has(peer)) state.conversations.set(peer, []);
    state.conversations.get(peer).push(entry);
    if (state.selected === peer) renderMessages();
  }

  function select(peer) {
    state.selected = peer;
    state.unread.delete(peer);
    renderPeople();
    renderMessages();
  }

  function nameOf(id) {
    const person = state.people.find((u) => u.id === id);
    return person ? person.name : id;
  }

  function renderPeople() {
    const list = $('people');
    list.textContent = '';
    for (const person of state.people) {
      const li = document.createElement('li');
      li.dataset.id = person.id;
      if (person.id === state.selected) li.className = 'selected';
      const dot = document.createElement('span');
      dot.className = 'dot';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = person.name;
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = person.kind === 'simplepush' ? 'SimplePush' : 'device';
      li.append(dot, name, tag);
      const unread = state.unread.get(person.id);
      if (unread) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(unread);
        li.append(badge);
      }
      li.addEventListener('click', () => select(person.id));
      list.append(li);
    }
    $('nobody').hidden = state.people.length > 0;
    const chosen = state.selected !== null;
    $('peer-name').textContent = chosen ? nameOf(state.selected) : 'Choose someone to talk to';
    $('text').disabled = !chosen;
    $('send').disabled = !chosen;
    $('call-button').disabled = !chosen || state.call !== null;
  }

  const RECEIPTS = { pending: '…', sent: '✓', acked: '✓✓', failed: '✗ not sent' };

  function renderMessages() {
    const list = $('messages');
    list.textContent = '';
    for (const entry of state.conversations.get(state.selected) || []) {
      const li = document.createElement('li');
      if (entry.event) {
        li.className = 'event';
        li.textContent = entry.event;
      } else {
        li.className = entry.mine ? 'mine' : 'theirs';
        li.textContent = entry.text;
        if (entry.mine) {
          const receipt = document.createElement('span');
          receipt.className = `receipt ${entry.receipt}`;
          receipt.dataset.receipt = entry.receipt;
          receipt.textContent = RECEIPTS[entry.receipt] || '';
          li.append(receipt);
        }
      }
      list.append(li);
    }
    list.scrollTop = list.scrollHeight;
  }

  function renderCall() {
    const call = state.call;
    $('call').hidden = call === null;
    $('call').dataset.phase = call ? call.phase : '';
    clearInterval(state.callTimer);
    $('call-timer').textContent = '';
    if (call) {
      const text = {
        outgoing: `Calling ${call.peerName}…`,
        incoming: `${call.peerName} is calling`,
        active: `In call with ${call.peerName}`,
      };
      $('call-text').textContent = text[call.phase];
      $('call-audio').hidden = call.phase !== 'active';
      $('answer').hidden = call.phase !== 'incoming';
      $('decline').hidden = call.phase !== 'incoming';
      $('hangup').hidden = call.phase === 'incoming';
      if (call.phase === 'active') {
        const tick = () => {
          const s = Math.floor((Date.now() - call.since) / 1000);
          $('call-timer').textContent =
            `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} · audio simulated`;
        };
        tick();
        state.callTimer = setInterval(tick, 1000);
      }
    }
    renderPeople();
  }

  // Same tab, same device: a reload rejoins without asking the name again.
  const saved = sessionStorage.getItem('localpush-demo');
  if (saved) {
    try {
      start(JSON.parse(saved));
    } catch {
      sessionStorage.removeItem('localpush-demo');
    }
  }
  window.localpushDemo = state;
})();
