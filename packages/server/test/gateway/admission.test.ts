/**
 * Caps on unauthenticated connections and throttling of failed hellos (issue 11, item 3), on the real
 * server over loopback, with the injected clock: half-open sockets from one address, then from several,
 * cannot take the process's descriptors while authenticated devices keep connecting; failed hellos are
 * logged with the remote address, counted, and slowed down per address.
 *
 * Distinct loopback source addresses (127.0.0.2, …) stand for distinct devices' addresses.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../src/server.js';
import { addDevice, waitUntil } from '../helpers/e2e.js';
import { RawPeer } from '../helpers/raw-peer.js';

const DEADLINE_MS = 10_000;

interface Harness {
  server: RunningServer;
  clock: ManualClock;
  logs: Record<string, unknown>[];
  credential: string;
}

async function start(dir: string, config: Record<string, number>): Promise<Harness> {
  const clock = new ManualClock(Date.now());
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const server = await startServer(
    {
      dataDir: dir,
      host: '127.0.0.1',
      apiPort: 0,
      tlsPort: 0,
      tcpPort: 0,
      wsPort: null,
      store: 'memory',
      helloTimeoutMs: DEADLINE_MS,
      ...config,
    },
    { clock, logger },
  );
  const { credential } = await addDevice(server, 'phone');
  return { server, clock, logs, credential };
}

/** A plain TCP connection to the device port from `from`, as a raw protocol peer. */
async function dial(server: RunningServer, from: string): Promise<RawPeer> {
  const socket = net.connect({
    host: '127.0.0.1',
    port: server.addresses.tcp?.port ?? 0,
    localAddress: from,
  });
  const peer = new RawPeer(socket);
  await once(socket, 'connect');
  return peer;
}

async function metric(server: RunningServer, line: string): Promise<number> {
  const answer = await server.api.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${server.providerKey}` },
  });
  assert.equal(answer.statusCode, 200, answer.body);
  const text = answer.body;
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-admission-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('caps on unauthenticated connections', () => {
  let h: Harness;
  before(async () => {
    h = await start(join(dir, 'caps'), { maxUnauthenticatedPerAddress: 4, maxUnauthenticated: 6 });
  });
  after(() => h.server.close({ drainTimeoutMs: 100 }));

  it('refuses the extra sockets of one address and of all, drops stale ones, and lets devices in', async () => {
    const { server, clock } = h;
    const admission = server.gateway.admission;
    // One at a time, so that they are admitted in this order (the oldest is dropped first below).
    const idle: RawPeer[] = [];
    for (let i = 1; i <= 4; i++) {
      idle.push(await dial(server, '127.0.0.1'));
      await waitUntil(() => admission.pendingCount === i);
    }

    // A fifth from the same address is refused at once; a device elsewhere still gets in.
    const fifth = await dial(server, '127.0.0.1');
    await fifth.untilClosed();
    const device = await dial(server, '127.0.0.2');
    await device.hello('phone', h.credential);
    assert.equal(admission.pendingCount, 4, 'a welcomed device no longer counts as pending');

    // Two more from another address reach the total; the next one, from anywhere, is refused.
    for (let i = 5; i <= 6; i++) {
      idle.push(await dial(server, '127.0.0.3'));
      await waitUntil(() => admission.pendingCount === i);
    }
    const overTotal = await dial(server, '127.0.0.4');
    await overTotal.untilClosed();
    assert.equal(await metric(server, 'localpush_unauthenticated_refused_total{scope="address"}'), 1);
    assert.equal(await metric(server, 'localpush_unauthenticated_refused_total{scope="total"}'), 1);

    // Once the oldest have used a quarter of their deadline they give way to new connections.
    clock.advance(DEADLINE_MS / 4);
    const late = await dial(server, '127.0.0.5');
    await idle[0]?.untilClosed();
    await late.hello('phone', h.credential);
    assert.equal(await metric(server, 'localpush_unauthenticated_evicted_total{scope="total"}'), 1);

    // At the deadline every one still silent is closed, and nothing stays pending.
    clock.advance(DEADLINE_MS);
    clock.advance(DEADLINE_MS);
    await Promise.all(idle.slice(1).map((peer) => peer.untilClosed()));
    await waitUntil(() => admission.pendingCount === 0);
    assert.equal(await metric(server, 'localpush_hello_deadline_expired_total{listener="tcp"}'), 5);
    assert.equal(await metric(server, 'localpush_unauthenticated_connections'), 0);
    device.stream.destroy();
    late.stream.destroy();
  });
});

describe('failed hellos', () => {
  let h: Harness;
  before(async () => {
    h = await start(join(dir, 'throttle'), { authThrottleAfter: 2 });
  });
  after(() => h.server.close({ drainTimeoutMs: 100 }));

  const wrongHello = (peer: RawPeer): void =>
    peer.send({ type: 'hello', version: 1, deviceId: 'phone', credential: 'wrong', capabilities: [] });

  it('are logged with the address, counted, and slow down that address only', async () => {
    const { server, clock, logs } = h;
    for (let i = 0; i < 2; i++) {
      const peer = await dial(server, '127.0.0.1');
      wrongHello(peer);
      assert.equal((await peer.next('error')).code, 'LP_AUTH_FAILED');
    }
    const refusals = logs.filter((l) => l.msg === 'hello refused: unknown device or wrong credential');
    assert.equal(refusals.length, 2);
    assert.deepEqual(
      refusals.map((l) => [l.remote, l.device, l.failures]),
      [
        ['127.0.0.1', 'phone', 1],
        ['127.0.0.1', 'phone', 2],
      ],
    );

    // The third from that address waits on the clock; one from another address is answered meanwhile.
    const throttled = await dial(server, '127.0.0.1');
    wrongHello(throttled);
    const elsewhere = await dial(server, '127.0.0.2');
    wrongHello(elsewhere);
    assert.equal((await elsewhere.next('error')).code, 'LP_AUTH_FAILED');
    assert.equal(throttled.received.length, 0, 'the throttled hello is not answered before its delay');
    const answered = throttled.next('error');
    await advanceUntil(clock, () => throttled.received.length > 0 || throttled.closed);
    assert.equal((await answered).code, 'LP_AUTH_FAILED');

    // Even the right credential from that address now waits, and is then welcomed.
    const device = await dial(server, '127.0.0.1');
    const welcomed = device.hello('phone', h.credential);
    await advanceUntil(clock, () => device.received.length > 0 || device.closed);
    await welcomed;
    assert.equal(await metric(server, 'localpush_hello_refused_total'), 4);
    const last = logs.filter((l) => l.msg === 'hello refused: unknown device or wrong credential').at(-1);
    assert.equal(last?.remote, '127.0.0.1');
    assert.equal(last?.delayedMs, 250, 'the third failure from the address waited 250 ms');
    // The close of each refused connection is logged with the address too, though the socket is gone.
    await waitUntil(() => logs.filter((l) => l.msg === 'connection closed on protocol error').length >= 4);
    const closed = logs.filter((l) => l.msg === 'connection closed on protocol error');
    assert.ok(
      closed.every((l) => typeof l.remote === 'string' && l.remote !== ''),
      JSON.stringify(closed),
    );
    device.stream.destroy();
  });
});

/**
 * Moves the injected clock on in small steps until `done`: the server sets its delay only once the hello
 * arrives, which no event tells the test, so each step first lets pending I/O run.
 */
async function advanceUntil(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let step = 0; step < 2_000 && !done(); step++) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(50);
  }
  assert.ok(done(), 'the clock ran on without an answer');
}
