/**
 * isStale(): the check the SDK's periodic timer runs, driven by a ManualClock. The client's own deadline
 * (liveness.test.ts) would drop the silent connection first, so the connected case turns it off, as a
 * host that drives the check itself does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeServer } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { waitForState } from '../helpers/wait.js';
import { ASSUMED_HEARTBEAT } from '../../src/index.js';

test('connected: stale after 2 × interval + grace without a heartbeat', async (t) => {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const { client, clock } = makeClient(t, server.url, { liveness: false });
  assert.equal(client.isStale(), false, 'idle is never stale');
  client.start();
  const conn = await server.next();
  await conn.accept({ heartbeatIntervalMs: 1_000, heartbeatGraceMs: 500 });
  await waitForState(client, 'connected');
  // The welcome counts as the first sign of life.
  assert.equal(client.lastHeartbeatAt, clock.now());
  clock.advance(2_500);
  assert.equal(client.isStale(), false);
  clock.advance(1);
  assert.equal(client.isStale(), true);
  conn.send({ type: 'heartbeat', seq: 1, serverTime: 1 });
  await conn.expect('heartbeat_ack');
  assert.equal(client.isStale(), false);
  assert.equal(client.isStale(clock.now() + 2_501), true);
});

test('not connected: stale once disconnected for the same span; never after stop()', async (t) => {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept({ heartbeatIntervalMs: 1_000, heartbeatGraceMs: 500 });
  await waitForState(client, 'connected');
  const backoff = waitForState(client, 'backoff');
  conn.destroy();
  await backoff;
  const since = clock.now();
  assert.equal(client.isStale(since + 2_500), false);
  assert.equal(client.isStale(since + 2_501), true);
  await client.stop();
  assert.equal(client.isStale(since + 10_000), false);
});

test('before any welcome, the server defaults stand in for the heartbeat timing', async (t) => {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const { client, clock } = makeClient(t, server.url);
  client.start();
  await (await server.next()).expect('hello');
  const limit = 2 * ASSUMED_HEARTBEAT.intervalMs + ASSUMED_HEARTBEAT.graceMs;
  assert.equal(client.isStale(clock.now() + limit), false);
  assert.equal(client.isStale(clock.now() + limit + 1), true);
});
