/**
 * The SimplePush gateway over real TLS on loopback (listenSimplePush, port 0), driven by the TypeScript
 * test client and by a raw peer; heartbeat timing on a manual clock.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { SpUser } from '../../src/simplepush/codec.js';
import { encodeSpFrame, encodeSpRequest, SimplePushErrorCode } from '../../src/simplepush/codec.js';
import type { SimplePushTestClient } from '../../src/testing.js';
import { startHarness, user, type Harness } from './helpers.js';

const names = (users: readonly SpUser[]): string => users.map((u) => u.deviceName).join(',');

async function harness(t: TestContext, options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(options);
  t.after(() => h.close());
  return h;
}

/** Advances one heartbeat interval and waits until the gateway saw each listed heartbeat acknowledged. */
async function heartbeatRound(h: Harness, acked: string[]): Promise<void> {
  h.log.clear();
  await h.advance(10_000);
  for (const line of acked) await h.log.until(`heartbeat ${line} acknowledged`);
}

describe('directory', () => {
  it('lists a user once both channels are registered, and broadcasts each change to every app', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    await a.app.untilDirectory((us) => names(us) === 'Alice');
    const b = await h.device(bob);
    await a.app.untilDirectory((us) => names(us) === 'Alice,Bob');
    await b.app.untilDirectory((us) => names(us) === 'Alice,Bob');
    assert.deepEqual(h.gateway.directory(), [alice, bob]);
    b.ext.close();
    await a.app.untilDirectory((us) => names(us) === 'Alice');
  });

  it('leaves out a user whose extension is not connected', async (t) => {
    const h = await harness(t);
    const a = await h.device(user('Alice'));
    const bobApp = await h.client('app', user('Bob'));
    await bobApp.untilDirectory((us) => names(us) === 'Alice');
    assert.equal(names(h.gateway.directory()), 'Alice');
    assert.equal(names(a.app.directoryUsers), 'Alice');
  });
});

describe('text messages', () => {
  it("delivers an app's text to the receiver's extension, from the registered sender", async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    const b = await h.device(bob);
    assert.equal(await a.app.sendText(bob, 'hello Bob'), 'acknowledged');
    const text = await b.ext.take('textMessage');
    assert.deepEqual(text, {
      type: 'textMessage',
      routing: { sender: alice, receiver: bob },
      message: 'hello Bob',
    });
    // A claimed sender is replaced by the registered one: an app cannot speak for another user.
    await a.app.send({
      type: 'textMessage',
      routing: { sender: user('Mallory'), receiver: bob },
      message: 'spoof',
    });
    const spoof = await b.ext.take('textMessage');
    assert.deepEqual(spoof.routing.sender, alice);
    assert.equal(b.app.inbox.filter((m) => m.type === 'textMessage').length, 0);
  });

  it('acknowledges a text to an absent user and reports it undelivered', async (t) => {
    const h = await harness(t);
    const a = await h.device(user('Alice'));
    assert.equal(await a.app.sendText(user('Nobody'), 'hello?'), 'acknowledged');
    await h.log.until('text Alice>Nobody false');
  });
});

describe('calls', () => {
  it('runs a full call: invite, pending, connect, active, hangup', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    const b = await h.device(bob);
    await a.app.call(bob);
    const invite = await b.ext.take('invite');
    assert.deepEqual(invite.routing, { sender: alice, receiver: bob });
    await h.log.until('call Alice>Bob pending');
    assert.deepEqual(h.gateway.activeCalls(), [{ caller: alice, receiver: bob, state: 'pending' }]);

    await b.app.callAction('connect', alice);
    assert.deepEqual(await a.app.take('callAction'), {
      type: 'callAction',
      action: 'connect',
      receiver: bob,
    });
    assert.deepEqual(await b.app.take('callAction'), {
      type: 'callAction',
      action: 'connect',
      receiver: alice,
    });
    assert.equal(h.gateway.activeCalls()[0]?.state, 'active');

    await a.app.callAction('hangup', bob);
    assert.deepEqual(await b.app.take('callAction'), {
      type: 'callAction',
      action: 'hangup',
      receiver: alice,
    });
    await h.log.until('call Alice>Bob ended hangup');
    assert.deepEqual(h.gateway.activeCalls(), []);
    assert.equal(a.app.inbox.filter((m) => m.type === 'callAction').length, 0);
  });

  it('relays a decline (unavailable) from the receiver to the caller', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    const b = await h.device(bob);
    await a.app.call(bob);
    await b.ext.take('invite');
    await b.app.callAction('unavailable', alice);
    assert.deepEqual(await a.app.take('callAction'), {
      type: 'callAction',
      action: 'unavailable',
      receiver: bob,
    });
    await h.log.until('call Alice>Bob ended unavailable');
  });

  it('answers unavailable for an unknown user, oneself, and a user without an extension', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const a = await h.device(alice);
    const appOnly = user('AppOnly');
    await h.client('app', appOnly);
    for (const target of [user('Nobody'), alice, appOnly]) {
      await a.app.call(target);
      assert.deepEqual(await a.app.take('callAction'), {
        type: 'callAction',
        action: 'unavailable',
        receiver: target,
      });
    }
    assert.deepEqual(h.gateway.activeCalls(), []);
    assert.equal(names(h.gateway.directory()), 'Alice');
  });

  it('answers unavailable for a busy receiver and a busy caller, and does not ring the busy receiver', async (t) => {
    const h = await harness(t);
    const [alice, bob, carol] = [user('Alice'), user('Bob'), user('Carol')];
    const a = await h.device(alice);
    const b = await h.device(bob);
    const c = await h.device(carol);
    await a.app.call(bob);
    await h.log.until('call Alice>Bob pending');
    await c.app.call(bob);
    assert.deepEqual(await c.app.take('callAction'), {
      type: 'callAction',
      action: 'unavailable',
      receiver: bob,
    });
    await c.app.call(alice);
    assert.deepEqual(await c.app.take('callAction'), {
      type: 'callAction',
      action: 'unavailable',
      receiver: alice,
    });
    // A text after the refused calls arrives after any invite would have on the same stream.
    await c.app.sendText(bob, 'marker');
    await b.ext.take('textMessage');
    assert.deepEqual(
      b.ext.inbox
        .filter((m) => m.type === 'invite')
        .map((m) => m.type === 'invite' && m.routing.sender.deviceName),
      ['Alice'],
    );
    assert.equal(names(h.gateway.directory()), 'Alice,Bob,Carol');
    assert.equal(h.gateway.activeCalls().length, 1);
  });

  it("ends the call when a participant's channel drops: the other gets hangup", async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    const bobExt = await h.client('extension', bob);
    const bobApp = await h.client('app', bob, { reconnect: false });
    await a.app.call(bob);
    await bobExt.take('invite');
    await bobApp.callAction('connect', alice);
    await a.app.take('callAction', (m) => m.action === 'connect');
    bobApp.dropConnection();
    assert.deepEqual(await a.app.take('callAction'), { type: 'callAction', action: 'hangup', receiver: bob });
    await h.log.until('call Alice>Bob ended dropped');
    assert.deepEqual(h.gateway.activeCalls(), []);
  });

  it('ends a pending call when the caller drops, telling the receiver hangup', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    await h.client('extension', alice);
    const aliceApp = await h.client('app', alice, { reconnect: false });
    const b = await h.device(bob);
    await aliceApp.call(bob);
    await b.ext.take('invite');
    aliceApp.dropConnection();
    assert.deepEqual(await b.app.take('callAction'), {
      type: 'callAction',
      action: 'hangup',
      receiver: alice,
    });
  });
});

describe('heartbeats', () => {
  it('sends a heartbeat 10 s after the previous one completed, on both channels', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const peer = await h.raw('notification');
    peer.autoAck = false;
    await peer.register(alice);
    h.clock.advance(9_999);
    await peer.barrier();
    assert.equal(peer.count('heartbeat'), 0);
    h.clock.advance(1);
    const first = await peer.nextRequest('heartbeat');
    assert.equal(first.message.count, 1);
    // Answered 5 s late: the next one is due 10 s after the answer, not after the send.
    h.clock.advance(5_000);
    peer.ack(first.requestIdentifier);
    await h.log.until('heartbeat Alice notification acknowledged');
    h.clock.advance(9_999);
    await peer.barrier();
    assert.equal(peer.count('heartbeat'), 0);
    h.clock.advance(1);
    assert.equal((await peer.nextRequest('heartbeat')).message.count, 2);

    const app = await h.client('app', alice);
    await heartbeatRound(h, ['Alice control']);
    assert.equal((await app.take('heartbeat')).count, 1);
  });

  it('marks a silent extension unavailable: out of the directory, its pending call unavailable, TCP kept', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const a = await h.device(alice);
    const b = await h.device(bob);
    await a.app.call(bob);
    await h.log.until('call Alice>Bob pending');
    b.ext.acknowledge = false;
    await heartbeatRound(h, ['Alice notification', 'Alice control', 'Bob control']);
    await b.ext.take('heartbeat');
    h.log.clear();
    await h.advance(10_000);
    await h.log.until('unresponsive Bob');
    assert.deepEqual(await a.app.take('callAction'), {
      type: 'callAction',
      action: 'unavailable',
      receiver: bob,
    });
    await a.app.untilDirectory((us) => names(us) === 'Alice');
    await h.log.until('call Alice>Bob ended unresponsive');
    assert.equal(names(h.gateway.directory()), 'Alice');
    assert.equal(b.ext.connections, 1);
    assert.ok(b.ext.registered);
    assert.ok(!h.log.lines.some((l) => l.startsWith('close Bob')));
    assert.deepEqual(
      h.gateway.userStates().find((s) => s.user.uuid === bob.uuid),
      { user: bob, control: true, notification: true, responsive: false },
    );
    // A call to the unresponsive user is refused.
    await a.app.call(bob);
    assert.deepEqual(await a.app.take('callAction'), {
      type: 'callAction',
      action: 'unavailable',
      receiver: bob,
    });

    // Answering again brings the user back.
    b.ext.acknowledge = true;
    await heartbeatRound(h, ['Bob notification']);
    await h.log.until('responsive Bob');
    await a.app.untilDirectory((us) => names(us) === 'Alice,Bob');
  });

  it('disconnects a control channel whose request goes unacknowledged', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    await h.client('extension', alice);
    const app = await h.client('app', alice, { reconnect: false });
    app.acknowledge = false;
    await heartbeatRound(h, ['Alice notification']);
    await app.take('heartbeat');
    await h.advance(10_000);
    await h.log.until(`close Alice control ${SimplePushErrorCode.ACK_TIMEOUT}`);
    await app.until(() => !app.registered);
    assert.equal(names(h.gateway.directory()), 'Alice');
  });
});

describe('sessions', () => {
  it('replaces an older connection of the same user and channel with the newer one', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const bob = user('Bob');
    const ext1 = await h.client('extension', alice, { reconnect: false });
    const app1 = await h.client('app', alice, { reconnect: false });
    const b = await h.device(bob);
    const ext2 = await h.client('extension', alice);
    await h.log.until(`close Alice notification ${SimplePushErrorCode.REPLACED}`);
    await ext1.until(() => !ext1.registered);
    const app2 = await h.client('app', alice);
    await h.log.until(`close Alice control ${SimplePushErrorCode.REPLACED}`);
    await app1.until(() => !app1.registered);
    assert.equal(names(h.gateway.directory()), 'Alice,Bob');
    assert.equal(h.gateway.userStates().filter((s) => s.user.uuid === alice.uuid).length, 1);
    await b.app.sendText(alice, 'to the new one');
    assert.equal((await ext2.take('textMessage')).message, 'to the new one');
    await app2.untilDirectory((us) => names(us) === 'Alice,Bob');
    assert.equal(ext1.inbox.filter((m) => m.type === 'textMessage').length, 0);
  });

  it('accepts a registration written one byte at a time', async (t) => {
    const h = await harness(t);
    const peer = await h.raw('notification');
    peer.socket.setNoDelay(true);
    const bytes = encodeSpFrame(encodeSpRequest(77, { type: 'user', user: user('Trickle') }));
    for (const byte of bytes) {
      // Each write becomes its own TLS record, so the gateway's decoder gets single-byte chunks.
      await new Promise<void>((resolve) => peer.socket.write(Uint8Array.of(byte), () => resolve()));
    }
    await peer.acked(77);
    await h.log.until('directory Trickle');
  });

  it('closes a connection that ends inside a frame', async (t) => {
    const h = await harness(t);
    const peer = await h.raw('notification');
    await peer.register(user('Mallory'));
    peer.socket.end(Uint8Array.of(10, 0, 0, 0, 0x7b));
    await h.log.until(`error notification Mallory ${SimplePushErrorCode.FRAME_TRUNCATED}`);
    await h.log.until(`close Mallory notification ${SimplePushErrorCode.FRAME_TRUNCATED}`);
    assert.deepEqual(h.gateway.directory(), []);
  });

  it('accepts a repeated registration of the same user, updating the device name', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const a = await h.device(alice);
    await a.ext.send({ type: 'user', user: { ...alice, deviceName: 'Alice 2' } });
    await a.app.untilDirectory((us) => names(us) === 'Alice 2');
  });
});

describe('bad input: a clear outcome, and the rest of the directory unaffected', () => {
  async function withBystander(
    t: TestContext,
    options: Parameters<typeof startHarness>[0] = {},
  ): Promise<{ h: Harness; bystander: SimplePushTestClient }> {
    const h = await harness(t, options);
    const a = await h.device(user('Alice'));
    await a.app.untilDirectory((us) => names(us) === 'Alice');
    return { h, bystander: a.app };
  }

  async function unaffected(h: Harness, bystander: SimplePushTestClient): Promise<void> {
    assert.equal(names(h.gateway.directory()), 'Alice');
    assert.ok(bystander.registered);
    await bystander.sendText(user('Nobody'), 'still here');
    await bystander.untilDirectory((us) => names(us) === 'Alice');
  }

  it('closes a connection whose first message is not a registration', async (t) => {
    const { h, bystander } = await withBystander(t);
    for (const channel of ['control', 'notification'] as const) {
      const peer = await h.raw(channel);
      peer.request({
        type: 'textMessage',
        routing: { sender: user('M'), receiver: user('N') },
        message: 'x',
      });
      await peer.untilClosed();
      await h.log.until(`error ${channel} - ${SimplePushErrorCode.NOT_REGISTERED}`);
    }
    await unaffected(h, bystander);
  });

  it('closes a connection that does not register in time', async (t) => {
    // Shorter than a heartbeat interval, so the bystander's heartbeats stay out of the way.
    const { h, bystander } = await withBystander(t, { registrationTimeoutMs: 5_000 });
    const peer = await h.raw('notification');
    await h.log.until('connection notification'); // its registration timer is running
    await h.advance(4_999);
    // The timeout fires synchronously inside advance(), so its absence shows at once.
    assert.ok(!h.log.lines.some((l) => l.includes(SimplePushErrorCode.REGISTRATION_TIMEOUT)));
    await h.advance(1);
    await peer.untilClosed();
    await h.log.until(`error notification - ${SimplePushErrorCode.REGISTRATION_TIMEOUT}`);
    await unaffected(h, bystander);
  });

  const envelope = (codingKey: number, data: string): Uint8Array =>
    encodeSpFrame(
      new TextEncoder().encode(
        JSON.stringify({ command: 'request', requestIdentifier: 9, payload: { codingKey, data } }),
      ),
    );
  const bad: [string, Uint8Array, SimplePushErrorCode][] = [
    [
      'an unknown codingKey',
      envelope(9, Buffer.from('{}').toString('base64')),
      SimplePushErrorCode.UNKNOWN_CODING_KEY,
    ],
    ['bad base64', envelope(4, '*not base64*'), SimplePushErrorCode.BAD_BASE64],
    ['bad JSON', encodeSpFrame(new TextEncoder().encode('{"command":"req')), SimplePushErrorCode.BAD_JSON],
    ['an oversize frame', Uint8Array.of(0x01, 0x00, 0x20, 0x00), SimplePushErrorCode.FRAME_TOO_LARGE],
    [
      'a bad inner message',
      envelope(4, Buffer.from('{"count":"x"}').toString('base64')),
      SimplePushErrorCode.BAD_MESSAGE,
    ],
  ];
  for (const [what, bytes, code] of bad) {
    it(`closes a registered connection that sends ${what} (${code}), dropping only that user`, async (t) => {
      const { h, bystander } = await withBystander(t);
      const peer = await h.raw('notification');
      await peer.register(user('Mallory'));
      await bystander.untilDirectory((us) => names(us) === 'Alice,Mallory');
      peer.sendBytes(bytes);
      await peer.untilClosed();
      await h.log.until(`error notification Mallory ${code}`);
      await bystander.untilDirectory((us) => names(us) === 'Alice');
      await unaffected(h, bystander);
    });
  }

  it('closes a connection that registers a second, different user', async (t) => {
    const { h, bystander } = await withBystander(t);
    const peer = await h.raw('control');
    await peer.register(user('Mallory'));
    peer.request({ type: 'user', user: user('Eve') });
    await peer.untilClosed();
    await h.log.until(`error control Mallory ${SimplePushErrorCode.USER_CHANGED}`);
    await unaffected(h, bystander);
  });
});

describe('hooks for bridging', () => {
  it('lists bridged users, hands texts to them to the hook, and sends texts from them', async (t) => {
    const h = await harness(t);
    const alice = user('Alice');
    const zed = user('Zed');
    const claimed: string[] = [];
    h.gateway.hooks.onTextMessage = (text) => {
      if (text.to.uuid !== zed.uuid) return false;
      claimed.push(`${text.from.deviceName}: ${text.message}`);
      return true;
    };
    const a = await h.device(alice);
    h.gateway.setBridgedUsers([zed]);
    await a.app.untilDirectory((us) => names(us) === 'Alice,Zed');
    await a.app.sendText(zed, 'hi Zed');
    assert.deepEqual(claimed, ['Alice: hi Zed']);
    assert.equal(h.gateway.sendText(alice.uuid.toLowerCase(), zed, 'hi Alice'), true);
    assert.deepEqual(await a.ext.take('textMessage'), {
      type: 'textMessage',
      routing: { sender: zed, receiver: alice },
      message: 'hi Alice',
    });
    assert.equal(h.gateway.sendText(user('Nobody').uuid, zed, 'lost'), false);
    assert.equal(h.gateway.isAvailable(alice.uuid), true);
    assert.equal(h.gateway.isAvailable(zed.uuid), false);
  });
});
