/**
 * The client's own dead-server deadline [LP-5.6]: a connected session from which nothing arrives for the
 * welcome's heartbeat interval + grace is dropped and dialled again, by the DeviceClient itself. Driven by
 * a ManualClock over real loopback TCP; a server that simply stops talking stands in for a partition
 * (packages/server/test/e2e/partition.test.ts has the real one).
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { FakeServer, type FakeConnection } from '../helpers/fake-server.js';
import { makeClient, type TestClient } from '../helpers/client.js';
import { waitForState } from '../helpers/wait.js';
import { ClientErrorCode, type DeviceClientOptions } from '../../src/index.js';

async function connected(
  t: TestContext,
  heartbeat = { heartbeatIntervalMs: 1_000, heartbeatGraceMs: 500 },
  options: Partial<DeviceClientOptions> = {},
): Promise<TestClient & { server: FakeServer; conn: FakeConnection }> {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const made = makeClient(t, server.url, options);
  made.client.start();
  const conn = await server.next();
  await conn.accept(heartbeat);
  await waitForState(made.client, 'connected');
  return { ...made, server, conn };
}

test('a silent server is dropped after interval + grace, not a millisecond sooner, and dialled again', async (t) => {
  const { client, clock, errors, server, conn } = await connected(t);
  clock.advance(1_499);
  assert.equal(client.state, 'connected');
  const backoff = waitForState(client, 'backoff');
  clock.advance(1);
  await backoff;
  assert.deepEqual(
    errors.map((e) => e.code),
    [ClientErrorCode.HEARTBEAT_TIMEOUT],
  );
  assert.match(
    errors[0]?.message ?? '',
    /nothing from .* for 1500 ms \(heartbeat interval 1000 ms \+ grace 500 ms\)/,
  );
  await conn.closed;
  // Back-off with random() = 0.5: half of the first 500 ms window.
  clock.advance(250);
  const again = await server.next();
  await again.accept();
  await waitForState(client, 'connected');
});

test('every frame from the server moves the deadline: heartbeats and pushes alike', async (t) => {
  const { client, clock, errors, conn } = await connected(t);
  clock.advance(1_000);
  conn.send({ type: 'heartbeat', seq: 1, serverTime: 1 });
  await conn.expect('heartbeat_ack');
  clock.advance(1_400); // 2.4 s since the welcome, 1.4 s since the heartbeat
  conn.send({ type: 'push', id: 'p1', seq: 1, kind: 'alert', payload: 'x', priority: 10, expiration: 0 });
  await conn.expect('ack');
  clock.advance(1_499);
  assert.equal(client.state, 'connected');
  assert.equal(errors.length, 0);
  const backoff = waitForState(client, 'backoff');
  clock.advance(1);
  await backoff;
  assert.equal(errors[0]?.code, ClientErrorCode.HEARTBEAT_TIMEOUT);
});

test("the deadline is the welcome's interval + grace (the server's defaults here: 30 s)", async (t) => {
  const { client, clock } = await connected(t, { heartbeatIntervalMs: 20_000, heartbeatGraceMs: 10_000 });
  clock.advance(29_999);
  assert.equal(client.state, 'connected');
  const backoff = waitForState(client, 'backoff');
  clock.advance(1);
  await backoff;
});

test('liveness: false leaves the connection to the host; the deadline never outlives its session', async (t) => {
  const off = await connected(t, undefined, { liveness: false });
  off.clock.advance(3_600_000);
  assert.equal(off.client.state, 'connected');
  assert.equal(off.client.isStale(), true, 'the host sees it through isStale()');
  assert.deepEqual(off.errors, []);

  const on = await connected(t);
  await on.client.stop();
  assert.equal(on.clock.pending, 0, 'no deadline left armed after stop()');
});
