/**
 * The gateway over in-memory duplex pairs with a manual clock: hello, heartbeats, dead-peer detection,
 * replacement, slow consumers, and every kind of bad input from docs/protocol.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type Ack, type Push } from '@localpush/protocol';
import { streamLink } from '@localpush/protocol/link';
import { Gateway } from '../../src/gateway/gateway.js';
import type { DeviceSession, SessionListener } from '../../src/engine/types.js';
// One in-memory socket pair for the whole repository: the protocol package's test helper.
import { duplexPair } from '../../../protocol/test/duplex-pair.js';
import { RawPeer } from '../helpers/raw-peer.js';

class RecordingListener implements SessionListener {
  readonly events: string[] = [];
  readonly acks: Ack[] = [];
  highestSent = 0;
  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void {
    this.events.push(`open ${session.deviceId} ${resumeThrough ?? '-'}`);
  }
  sessionClosed(session: DeviceSession): void {
    this.events.push(`close ${session.deviceId}`);
  }
  ackReceived(_session: DeviceSession, ack: Ack): boolean {
    this.acks.push(ack);
    return (ack.through ?? 0) <= this.highestSent;
  }
  sessionWritable(): void {}
}

function setup(connection: Partial<Gateway['connectionOptions']> = {}) {
  const clock = new ManualClock();
  const listener = new RecordingListener();
  const gateway = new Gateway({
    clock,
    listener,
    authenticate: (id, credential) => Promise.resolve(credential === `secret-${id}`),
    connection,
  });
  const connect = (): RawPeer => {
    const [serverSide, deviceSide] = duplexPair();
    gateway.accept(streamLink(serverSide, { maxFrameBytes: gateway.connectionOptions.maxFrameBytes }));
    return new RawPeer(deviceSide);
  };
  return { clock, listener, gateway, connect };
}

const push = (seq: number): Push => ({
  type: 'push',
  id: `m${seq}`,
  seq,
  kind: 'alert',
  payload: { text: 'hi' },
  priority: 10,
  expiration: 0,
});

describe('hello and authentication [LP-4]', () => {
  it('welcomes a device with the heartbeat settings and reports the session with its resume cursor', async () => {
    const { gateway, listener, connect } = setup();
    const peer = connect();
    peer.send({
      type: 'hello',
      version: 1,
      deviceId: 'd1',
      credential: 'secret-d1',
      capabilities: [],
      resume: { lastSeq: 7 },
    });
    const welcome = await peer.next('welcome');
    assert.equal(welcome.heartbeatIntervalMs, 20_000);
    assert.equal(welcome.heartbeatGraceMs, 10_000);
    assert.equal(welcome.maxFrameBytes, 64 * 1024);
    assert.deepEqual(listener.events, ['open d1 7']);
    assert.equal(gateway.isOnline('d1'), true);
  });

  for (const [name, credential] of [
    ['a wrong credential', 'nope'],
    ['an unknown device', 'secret-d1'],
  ] as const) {
    it(`refuses ${name} with LP_AUTH_FAILED and closes`, async () => {
      const { gateway, connect } = setup();
      const peer = connect();
      const deviceId = name === 'an unknown device' ? 'ghost' : 'd1';
      peer.send({ type: 'hello', version: 1, deviceId, credential, capabilities: [] });
      assert.equal((await peer.next('error')).code, 'LP_AUTH_FAILED');
      await peer.untilClosed();
      assert.equal(gateway.sessionCount, 0);
    });
  }

  it('refuses an unsupported protocol version with LP_VERSION_UNSUPPORTED', async () => {
    const { connect } = setup();
    const peer = connect();
    peer.send({ type: 'hello', version: 99, deviceId: 'd1', credential: 'secret-d1', capabilities: [] });
    const error = await peer.next('error');
    assert.equal(error.code, 'LP_VERSION_UNSUPPORTED');
    assert.match(error.message, /speaks 1/);
    await peer.untilClosed();
  });

  it('requires hello first (LP_HELLO_REQUIRED)', async () => {
    const { connect } = setup();
    const peer = connect();
    peer.send({ type: 'ack', through: 1 });
    assert.equal((await peer.next('error')).code, 'LP_HELLO_REQUIRED');
    await peer.untilClosed();
  });

  it('closes a client that never says hello (LP_HELLO_TIMEOUT)', async () => {
    const { clock, gateway, connect } = setup();
    const peer = connect();
    clock.advance(9_999);
    assert.equal(peer.received.length, 0);
    clock.advance(1);
    assert.equal((await peer.next('error')).code, 'LP_HELLO_TIMEOUT');
    await peer.untilClosed();
    assert.equal(gateway.connectionCount, 0);
  });

  it('rejects a second hello on an open connection', async () => {
    const { connect } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    peer.send({ type: 'hello', version: 1, deviceId: 'd1', credential: 'secret-d1', capabilities: [] });
    assert.equal((await peer.next('error')).code, 'LP_MESSAGE_UNEXPECTED');
  });
});

describe('bad frames [LP-2, LP-3]', () => {
  const cases: [string, (peer: RawPeer) => void, string][] = [
    ['malformed JSON', (p) => p.sendBytes(Uint8Array.of(0, 0, 0, 3, 0x7b, 0x7b, 0x7b)), 'LP_FRAME_MALFORMED'],
    ['a zero-length frame', (p) => p.sendBytes(Uint8Array.of(0, 0, 0, 0)), 'LP_FRAME_MALFORMED'],
    ['an oversize frame header', (p) => p.sendBytes(Uint8Array.of(0x7f, 0, 0, 0)), 'LP_FRAME_TOO_LARGE'],
    ['an unknown message type', (p) => p.send({ type: 'teleport' }), 'LP_MESSAGE_UNKNOWN'],
    [
      'a server-only message',
      (p) => p.send({ type: 'heartbeat', seq: 1, serverTime: 1 }),
      'LP_MESSAGE_UNEXPECTED',
    ],
    [
      'a hello without a credential',
      (p) => p.send({ type: 'hello', version: 1, deviceId: 'd1', capabilities: [] }),
      'LP_MESSAGE_INVALID',
    ],
    [
      'a hello with a bad device id',
      (p) => p.send({ type: 'hello', version: 1, deviceId: 'a b', credential: 'x' }),
      'LP_MESSAGE_INVALID',
    ],
  ];
  for (const [name, send, code] of cases) {
    it(`answers ${name} with ${code}, closes, and keeps serving others`, async () => {
      const { connect, gateway } = setup();
      const bystander = connect();
      await bystander.hello('d2', 'secret-d2');
      const peer = connect();
      send(peer);
      assert.equal((await peer.next('error')).code, code);
      await peer.untilClosed();
      assert.equal(bystander.closed, false);
      assert.equal(gateway.isOnline('d2'), true);
    });
  }

  it('closes on a frame truncated by end of stream', async () => {
    const { connect, gateway } = setup();
    const peer = connect();
    peer.sendBytes(Uint8Array.of(0, 0, 0, 10, 0x7b));
    peer.stream.end();
    await peer.untilClosed();
    assert.equal(gateway.connectionCount, 0);
  });
});

describe('heartbeats and dead peers [LP-5]', () => {
  it('sends a heartbeat every interval while the device answers', async () => {
    const { clock, connect, gateway } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    for (let i = 1; i <= 3; i++) {
      clock.advance(20_000);
      const heartbeat = await peer.next('heartbeat');
      assert.equal(heartbeat.seq, i);
      peer.send({ type: 'heartbeat_ack', seq: heartbeat.seq });
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(gateway.isOnline('d1'), true);
  });

  it('detects a silent device within interval + grace (LP_HEARTBEAT_TIMEOUT)', async () => {
    const { clock, connect, gateway, listener } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    clock.advance(20_000);
    await peer.next('heartbeat');
    clock.advance(9_999);
    assert.equal(gateway.isOnline('d1'), true);
    clock.advance(1);
    assert.equal((await peer.next('error')).code, 'LP_HEARTBEAT_TIMEOUT');
    await peer.untilClosed();
    assert.equal(gateway.isOnline('d1'), false);
    assert.deepEqual(listener.events, ['open d1 -', 'close d1']);
  });

  it('ignores an apns_token when the server has no APNs endpoint [LP-6.9]', async () => {
    const { clock, connect, gateway } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    peer.send({ type: 'apns_token', token: 'ab12', topic: 'com.example.app', environment: 'production' });
    clock.advance(20_000);
    assert.equal((await peer.next('heartbeat')).seq, 1);
    assert.equal(gateway.isOnline('d1'), true);
    assert.equal(peer.received.filter((m) => m.type === 'error').length, 0);
  });

  it('ignores an ack for a heartbeat that is not outstanding', async () => {
    const { clock, connect } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    peer.send({ type: 'heartbeat_ack', seq: 42 });
    clock.advance(20_000);
    assert.equal((await peer.next('heartbeat')).seq, 1);
  });
});

describe('sessions, acks and flow control [LP-6, LP-7, LP-8]', () => {
  it('replaces an older connection of the same device with goaway(replaced)', async () => {
    const { connect, gateway, listener } = setup();
    const first = connect();
    await first.hello('d1', 'secret-d1');
    const second = connect();
    await second.hello('d1', 'secret-d1');
    assert.equal((await first.next('goaway')).reason, 'replaced');
    await first.untilClosed();
    assert.equal(gateway.sessionCount, 1);
    assert.equal(gateway.session('d1')?.isOpen, true);
    assert.deepEqual(listener.events, ['open d1 -', 'close d1', 'open d1 -']);
  });

  it('passes acks to the engine and answers an impossible ack with LP_ACK_INVALID', async () => {
    const { connect, gateway, listener } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    gateway.session('d1')?.sendPush(push(1));
    listener.highestSent = 1;
    await peer.next('push');
    peer.send({ type: 'ack', ids: ['m1'], through: 1 });
    peer.send({ type: 'ack', through: 5 });
    assert.equal((await peer.next('error')).code, 'LP_ACK_INVALID');
    assert.deepEqual(listener.acks, [
      { type: 'ack', ids: ['m1'], through: 1 },
      { type: 'ack', through: 5 },
    ]);
  });

  it('drops a device that stops reading once its write queue passes the bound, without touching others', async () => {
    const { connect, gateway } = setup({
      maxWriteQueueBytes: 4096,
      writeHighWaterBytes: 1024,
      maxFrameBytes: 1024,
    });
    const fast = connect();
    await fast.hello('fast', 'secret-fast');
    const slow = connect();
    await slow.hello('slow', 'secret-slow');
    slow.stream.pause();
    const session = gateway.session('slow');
    assert.ok(session);
    let accepted = 0;
    // A paused in-memory stream queues everything written to it, exactly like a socket whose peer stopped
    // reading; the connection must give up on it once the bound is passed.
    for (let seq = 1; seq <= 200 && session.sendPush(push(seq)) > 0; seq++) accepted++;
    assert.ok(accepted < 200, `the slow device kept accepting (${accepted})`);
    assert.equal(gateway.isOnline('slow'), false);
    assert.ok((gateway.session('fast')?.sendPush(push(1)) ?? 0) > 0);
    assert.equal((await fast.next('push')).id, 'm1');
  });

  it('closes after the device sends an error frame, without answering it [LP-9.1]', async () => {
    const { connect, gateway, listener } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    peer.send({ type: 'error', code: 'LP_MESSAGE_INVALID', message: 'the push had no id' });
    await peer.untilClosed();
    assert.equal(gateway.isOnline('d1'), false);
    assert.equal(gateway.connectionCount, 0);
    assert.deepEqual(listener.events, ['open d1 -', 'close d1']);
    assert.equal(
      peer.received.some((m) => m.type === 'error'),
      false,
      'an error frame is never answered',
    );
  });

  it('shuts down with goaway(shutdown) and a reconnect hint, then refuses new connections', async () => {
    const { connect, gateway } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1');
    const done = gateway.shutdown({ reconnectAfterMs: 1500 });
    const goaway = await peer.next('goaway');
    assert.equal(goaway.reason, 'shutdown');
    assert.equal(goaway.reconnectAfterMs, 1500);
    await done;
    assert.equal(gateway.connectionCount, 0);
    const late = connect();
    assert.equal((await late.next('error')).code, 'LP_SHUTTING_DOWN');
  });
});
