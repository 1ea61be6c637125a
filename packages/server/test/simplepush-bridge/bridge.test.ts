/**
 * "One world" over real loopback sockets: SimplePush test clients (TLS, pinned), a native device (TLS)
 * and a WebSocket device on one server, exchanging texts and calls through the bridge, the chat routes
 * and the send API.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/server.js';
import { simplePushDeviceId, textOf, uuidForDevice } from '../../src/simplepush/bridge.js';
import type { SpUser } from '../../src/simplepush/codec.js';
import {
  chat,
  nativeDevice,
  providerFetch,
  simplePushUser,
  startWorld,
  until,
  type NativeDevice,
  type World,
} from './helpers.js';

const payloadOf = (push: { payload: unknown }): Record<string, unknown> =>
  push.payload as Record<string, unknown>;

describe('SimplePush bridge: one world', () => {
  let world: World;
  let alice: Awaited<ReturnType<typeof simplePushUser>>;
  const aliceUser: SpUser = { uuid: randomUUID().toUpperCase(), deviceName: 'Alice iPhone' };
  const aliceId = simplePushDeviceId(aliceUser.uuid);
  let phone: NativeDevice;
  let browser: NativeDevice;
  const phoneUser = (): SpUser => ({ uuid: uuidForDevice('phone'), deviceName: 'Bob phone' });

  before(async () => {
    world = await startWorld();
    alice = await simplePushUser(world, aliceUser);
    phone = await nativeDevice(world, 'phone', 'Bob phone', 'tls');
    browser = await nativeDevice(world, 'browser', 'Carol browser', 'ws');
  });

  after(async () => {
    alice.close();
    await phone.stop();
    await browser.stop();
    await world.close();
  });

  it('lists SimplePush users and localpush devices in both directories', async () => {
    await until(() => world.server.simplepush?.bridge.directory().length === 3);
    const { status, json } = await chat(world, phone, '/v1/chat/directory');
    assert.equal(status, 200);
    assert.deepEqual(
      (json.users as { id: string; name: string; kind: string }[])
        .map((u) => `${u.kind} ${u.id} ${u.name}`)
        .sort(),
      [`device browser Carol browser`, `device phone Bob phone`, `simplepush ${aliceId} Alice iPhone`].sort(),
    );
    // The sample's app sees the localpush devices under stable UUIDs, with their labels as names.
    await alice.app.untilDirectory((users) =>
      users.some((u) => u.uuid === phoneUser().uuid && u.deviceName === 'Bob phone'),
    );
    assert.ok(alice.app.directoryUsers.some((u) => u.uuid === aliceUser.uuid));
    assert.ok(alice.app.directoryUsers.some((u) => u.uuid === uuidForDevice('browser')));
    // The SimplePush user was enrolled as a device, online through its extension, with no usable credential.
    const devices = (await providerFetch(world, '/v1/devices')) as {
      devices: { id: string; online?: boolean }[];
    };
    assert.equal(devices.devices.find((d) => d.id === aliceId)?.online, true);
    const impostor = await chat(
      world,
      { id: aliceId, credential: 'simplepush:no-credential' },
      '/v1/chat/directory',
    );
    assert.equal(impostor.status, 401);
  });

  it('delivers a WebSocket device’s text to the SimplePush extension, acknowledged end to end', async () => {
    const sent = await chat(world, browser, '/v1/chat/send', { to: aliceId, text: 'hi Alice', waitMs: 5000 });
    assert.equal(sent.status, 200, JSON.stringify(sent.json));
    const text = await alice.ext.take('textMessage');
    assert.equal(text.message, 'hi Alice');
    assert.deepEqual(text.routing.sender, { uuid: uuidForDevice('browser'), deviceName: 'Carol browser' });
    assert.equal(text.routing.receiver.uuid, aliceUser.uuid);
    // The extension's acknowledgement is the device's ack: the sender learns "delivered".
    assert.equal(sent.json.status, 'delivered');
  });

  it('delivers a native device’s text to the SimplePush extension', async () => {
    const sent = await chat(world, phone, '/v1/chat/send', { to: aliceId, text: 'from the phone' });
    assert.equal(sent.status, 200);
    const text = await alice.ext.take('textMessage');
    assert.equal(text.message, 'from the phone');
    assert.equal(text.routing.sender.uuid, phoneUser().uuid);
  });

  it('delivers the send API’s push to the SimplePush user as a TextMessage', async () => {
    const result = (await providerFetch(world, '/v1/push', {
      to: aliceId,
      kind: 'alert',
      payload: { alert: { title: 'Build', body: 'build 42 passed' } },
      wait: true,
      waitTimeoutMs: 5000,
    })) as { results: { status: string }[] };
    const text = await alice.ext.take('textMessage');
    assert.equal(text.message, 'build 42 passed');
    assert.equal(text.routing.sender.deviceName, 'localpush');
    assert.equal(result.results[0]?.status, 'delivered');
  });

  it('delivers a SimplePush user’s text to a native device in the chat convention', async () => {
    await alice.app.sendText(phoneUser(), 'hello Bob');
    const push = await phone.next((p) => p.kind === 'message');
    assert.deepEqual(push.payload, { from: aliceId, fromName: 'Alice iPhone', text: 'hello Bob' });
  });

  it('connects and hangs up a call from a SimplePush user to a native device', async () => {
    await alice.app.call(phoneUser());
    const invite = await phone.next((p) => p.kind === 'call');
    const ring = payloadOf(invite);
    assert.equal(ring.action, 'invite');
    assert.equal(ring.from, aliceId);
    const callId = String(ring.callId);
    const answer = await chat(world, phone, '/v1/chat/send', {
      to: aliceId,
      call: { callId, action: 'connect' },
    });
    assert.equal(answer.status, 200);
    const connected = await alice.app.take('callAction');
    assert.equal(connected.action, 'connect');
    assert.equal(connected.receiver?.uuid, phoneUser().uuid);
    await alice.app.callAction('hangup', phoneUser());
    const hangup = await phone.next((p) => p.kind === 'call');
    assert.deepEqual(payloadOf(hangup), {
      from: aliceId,
      fromName: 'Alice iPhone',
      callId,
      action: 'hangup',
    });
  });

  it('connects and hangs up a call from a native device to a SimplePush user', async () => {
    const callId = randomUUID();
    await chat(world, phone, '/v1/chat/send', { to: aliceId, call: { callId, action: 'invite' } });
    const invite = await alice.ext.take('invite');
    assert.deepEqual(invite.routing.sender, phoneUser());
    // The sample's app answers with connect; both sides learn the call is up.
    await alice.app.callAction('connect', phoneUser());
    const connected = await phone.next((p) => p.kind === 'call');
    assert.deepEqual(payloadOf(connected), {
      from: aliceId,
      fromName: 'Alice iPhone',
      callId,
      action: 'connect',
    });
    assert.equal((await alice.app.take('callAction')).action, 'connect');
    await chat(world, phone, '/v1/chat/send', { to: aliceId, call: { callId, action: 'hangup' } });
    const hangup = await alice.app.take('callAction');
    assert.equal(hangup.action, 'hangup');
    assert.equal(hangup.receiver?.uuid, phoneUser().uuid);
  });

  it('answers unavailable when a native device calls a SimplePush user already in a call', async () => {
    const first = randomUUID();
    await chat(world, phone, '/v1/chat/send', { to: aliceId, call: { callId: first, action: 'invite' } });
    await alice.ext.take('invite');
    const second = randomUUID();
    await chat(world, browser, '/v1/chat/send', { to: aliceId, call: { callId: second, action: 'invite' } });
    const busy = await browser.next((p) => p.kind === 'call');
    assert.deepEqual(payloadOf(busy), {
      from: aliceId,
      fromName: 'Alice iPhone',
      callId: second,
      action: 'unavailable',
    });
    await chat(world, phone, '/v1/chat/send', { to: aliceId, call: { callId: first, action: 'hangup' } });
    assert.equal((await alice.app.take('callAction')).action, 'hangup');
  });

  it('answers unavailable both ways while a SimplePush user is in a call with another', async () => {
    const daveUser: SpUser = { uuid: randomUUID().toUpperCase(), deviceName: 'Dave iPhone' };
    const dave = await simplePushUser(world, daveUser);
    try {
      await alice.app.untilDirectory((users) => users.some((u) => u.uuid === daveUser.uuid));
      await alice.app.call(daveUser);
      await dave.ext.take('invite');
      await dave.app.callAction('connect', aliceUser);
      await alice.app.take('callAction', (m) => m.action === 'connect');
      // A device calling Alice hears she is busy…
      const callId = randomUUID();
      await chat(world, phone, '/v1/chat/send', { to: aliceId, call: { callId, action: 'invite' } });
      const busy = await phone.next((p) => p.kind === 'call');
      assert.equal(payloadOf(busy).action, 'unavailable');
      assert.equal(alice.ext.inbox.filter((m) => m.type === 'invite').length, 0);
      // …and Alice cannot ring the device from inside her call.
      await alice.app.callAction('connect', phoneUser());
      const refused = await alice.app.take('callAction', (m) => m.action === 'unavailable');
      assert.equal(refused.receiver?.uuid, phoneUser().uuid);
      await alice.app.callAction('hangup', daveUser);
      await dave.app.take('callAction', (m) => m.action === 'hangup');
    } finally {
      dave.close();
    }
  });

  it('relays texts between two localpush devices through the chat route', async () => {
    const sent = await chat(world, phone, '/v1/chat/send', { to: 'browser', text: 'ping', waitMs: 5000 });
    assert.equal(sent.json.status, 'delivered');
    const push = await browser.next((p) => p.kind === 'message');
    assert.deepEqual(push.payload, { from: 'phone', fromName: 'Bob phone', text: 'ping' });
    const unknown = await chat(world, phone, '/v1/chat/send', { to: 'nobody', text: 'x' });
    assert.equal(unknown.status, 404);
    const both = await chat(world, phone, '/v1/chat/send', { to: 'browser' });
    assert.equal(both.status, 400);
  });

  it('turns any payload into text for the sample', () => {
    assert.equal(textOf('plain'), 'plain');
    assert.equal(textOf({ text: 't' }), 't');
    assert.equal(textOf({ alert: 'a' }), 'a');
    assert.equal(textOf({ alert: { body: 'b' } }), 'b');
    assert.equal(textOf({ n: 1 }), '{"n":1}');
    assert.match(
      uuidForDevice('phone'),
      /^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/,
    );
    assert.equal(uuidForDevice(aliceId), aliceUser.uuid);
  });
});

describe('SimplePush is off by default', () => {
  it('starts no SimplePush listener and no chat routes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'localpush-off-'));
    const server = await startServer({
      dataDir,
      host: '127.0.0.1',
      tlsPort: 0,
      wsPort: null,
      apiPort: 0,
      store: 'memory',
      logLevel: 'silent',
    });
    try {
      assert.equal(server.simplepush, null);
      const response = await fetch(`http://127.0.0.1:${server.addresses.api.port}/v1/chat/directory`, {
        headers: { authorization: `Bearer ${server.providerKey}` },
      });
      assert.equal(response.status, 404);
    } finally {
      await server.close({ drainTimeoutMs: 200 });
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
