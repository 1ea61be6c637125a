/**
 * The gateway's side of protocol section 10 over in-memory duplex pairs: probes answered at once,
 * diagnostic sessions that never become (or displace) the device's session, heartbeat round trips
 * reported to the observer, and the hello's network report passed on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type Ack, type Hello } from '@localpush/protocol';
import { streamLink } from '@localpush/protocol/link';
import type { CloseReason, DeviceConnection } from '../../src/gateway/connection.js';
import { Gateway, type SessionObserver } from '../../src/gateway/gateway.js';
import type { DeviceSession, SessionListener } from '../../src/engine/types.js';
import { duplexPair } from '../../../protocol/test/duplex-pair.js';
import { RawPeer } from '../helpers/raw-peer.js';

class Recorder implements SessionListener, SessionObserver {
  readonly events: string[] = [];
  readonly acks: Ack[] = [];
  readonly rtts: number[] = [];
  readonly networks: (Hello['network'] | undefined)[] = [];
  sessionOpened(session: DeviceSession): void {
    this.events.push(`engine open ${session.deviceId}`);
  }
  sessionClosed(session: DeviceSession): void {
    this.events.push(`engine close ${session.deviceId}`);
  }
  ackReceived(_session: DeviceSession, ack: Ack): boolean {
    this.acks.push(ack);
    return true;
  }
  sessionWritable(): void {}
  opened(connection: DeviceConnection, hello: Hello): void {
    this.events.push(`observer open ${connection.deviceId}`);
    this.networks.push(hello.network);
  }
  closed(connection: DeviceConnection, reason: CloseReason): void {
    this.events.push(`observer close ${connection.deviceId} ${reason.kind}`);
  }
  heartbeatRtt(_connection: DeviceConnection, rttMs: number): void {
    this.rtts.push(rttMs);
  }
}

function setup() {
  const clock = new ManualClock();
  const recorder = new Recorder();
  const gateway = new Gateway({
    clock,
    listener: recorder,
    observer: recorder,
    authenticate: (id, credential) => Promise.resolve(credential === `secret-${id}`),
  });
  const connect = (): RawPeer => {
    const [serverSide, deviceSide] = duplexPair();
    gateway.accept(streamLink(serverSide));
    return new RawPeer(deviceSide);
  };
  return { clock, recorder, gateway, connect };
}

describe('probes [LP-10.2]', () => {
  it('lists probe and diagnostic in every welcome, and answers each probe with its id and pad', async () => {
    const { clock, connect } = setup();
    const peer = connect();
    peer.send({ type: 'hello', version: 1, deviceId: 'd1', credential: 'secret-d1', capabilities: [] });
    const welcome = await peer.next('welcome');
    assert.deepEqual(welcome.capabilities, ['probe', 'diagnostic']);
    clock.advance(5);
    peer.send({ type: 'probe', id: 'a' });
    peer.send({ type: 'probe', id: 'b', pad: 'x'.repeat(300) });
    assert.deepEqual(await peer.next('probe_reply'), {
      type: 'probe_reply',
      id: 'a',
      serverTime: clock.now(),
    });
    const padded = await peer.next('probe_reply');
    assert.equal(padded.id, 'b');
    assert.equal(padded.pad, 'x'.repeat(300));
  });

  it('refuses a probe before the welcome like any other early message', async () => {
    const { connect } = setup();
    const peer = connect();
    peer.send({ type: 'probe', id: 'early' });
    assert.equal((await peer.next('error')).code, 'LP_HELLO_REQUIRED');
    await peer.untilClosed();
  });
});

describe('diagnostic sessions [LP-10.3]', () => {
  it("neither replaces the device's session nor is replaced, and its acks are ignored", async () => {
    const { gateway, recorder, connect } = setup();
    const device = connect();
    await device.hello('d1', 'secret-d1');
    assert.equal(gateway.session('d1') !== undefined, true);
    const doctor = connect();
    await doctor.hello('d1', 'secret-d1', { capabilities: ['probe', 'diagnostic'] });
    // The device's own session is still the one that gets pushes.
    assert.equal(gateway.sessionCount, 1);
    assert.equal(device.closed, false);
    doctor.send({ type: 'ack', through: 0 });
    doctor.send({ type: 'probe', id: '1' });
    await doctor.next('probe_reply');
    assert.deepEqual(recorder.acks, [], 'a diagnostic ack reaches nobody');
    assert.deepEqual(recorder.events, ['engine open d1', 'observer open d1']);
    // Closing the diagnostic connection does not take the device offline.
    doctor.stream.destroy();
    await doctor.untilClosed();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(gateway.isOnline('d1'), true);
    assert.deepEqual(recorder.events, ['engine open d1', 'observer open d1']);
  });

  it('authenticates like any session: a wrong credential is refused', async () => {
    const { connect } = setup();
    const doctor = connect();
    doctor.send({
      type: 'hello',
      version: 1,
      deviceId: 'd1',
      credential: 'no',
      capabilities: ['diagnostic'],
    });
    assert.equal((await doctor.next('error')).code, 'LP_AUTH_FAILED');
  });

  it('is sent heartbeats and dropped when it does not answer them [LP-5.3]', async () => {
    const { clock, connect } = setup();
    const doctor = connect();
    await doctor.hello('d1', 'secret-d1', { capabilities: ['diagnostic'] });
    clock.advance(20_000);
    await doctor.next('heartbeat');
    clock.advance(10_000);
    assert.equal((await doctor.next('error')).code, 'LP_HEARTBEAT_TIMEOUT');
  });
});

describe('the session observer', () => {
  it('gets the heartbeat round trip, the hello network report, and the close', async () => {
    const { clock, recorder, connect } = setup();
    const peer = connect();
    await peer.hello('d1', 'secret-d1', {
      network: { ssid: 'Ward 7', bssid: 'aa:bb:cc:dd:ee:ff', signalDbm: -61 },
    });
    assert.deepEqual(recorder.networks, [{ ssid: 'Ward 7', bssid: 'aa:bb:cc:dd:ee:ff', signalDbm: -61 }]);
    clock.advance(20_000);
    const heartbeat = await peer.next('heartbeat');
    clock.advance(37);
    peer.send({ type: 'heartbeat_ack', seq: heartbeat.seq });
    while (recorder.rtts.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(recorder.rtts, [37]);
    peer.stream.destroy();
    while (!recorder.events.some((e) => e.startsWith('observer close'))) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(recorder.events.includes('observer close d1 peer_closed'));
  });

  it('is not told about the replaced session closing: the new one already took over [LP-8.2]', async () => {
    const { recorder, connect } = setup();
    const first = connect();
    await first.hello('d1', 'secret-d1');
    const second = connect();
    await second.hello('d1', 'secret-d1');
    await first.next('goaway');
    await first.untilClosed();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      recorder.events.filter((e) => e.startsWith('observer')),
      ['observer open d1', 'observer open d1'],
    );
  });
});
