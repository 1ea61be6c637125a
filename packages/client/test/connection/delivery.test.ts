/**
 * Delivery across connections: a push still being handled when the connection drops is acked on the
 * next connection once the app has it, and big bursts are acked in frames within the protocol's limit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LIMITS, type Ack, type Push } from '@localpush/protocol';
import { DeliveryTracker } from '../../src/index.js';
import { FakeServer, welcome } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { deferred, waitForState } from '../helpers/wait.js';

function push(id: string, seq: number): Push {
  return { type: 'push', id, seq, kind: 'alert', payload: {}, priority: 10, expiration: 0 };
}

test('the tracker classifies arrivals and moves the cursor over the finished prefix only', () => {
  const tracker = new DeliveryTracker(16, 10);
  assert.equal(tracker.lastSeq, 10);
  assert.equal(tracker.arrive('a', 11), 'new');
  assert.equal(tracker.arrive('b', 12), 'new');
  assert.equal(tracker.arrive('a', 11), 'in-flight');
  tracker.succeeded('b');
  assert.equal(tracker.lastSeq, 10, 'b is done but a, before it, is not');
  tracker.failed('a');
  assert.equal(tracker.arrive('a', 11), 'retry');
  tracker.succeeded('a');
  assert.equal(tracker.lastSeq, 12);
  assert.equal(tracker.arrive('a', 11), 'processed');
  assert.equal(tracker.arrive('b', 12), 'processed');
});

test('a push in flight across a reconnect is emitted once and acked on the new connection', async (t) => {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const gate = deferred();
  const started = deferred();
  const { client, clock } = makeClient(t, server.url, {
    onPush: async () => {
      started.resolve();
      await gate.promise;
    },
  });
  const emitted: string[] = [];
  client.on('push', (p) => emitted.push(p.id));
  client.start();
  const first = await server.next();
  await first.accept();
  first.send(push('slow', 1));
  await started.promise;
  const backoff = waitForState(client, 'backoff');
  first.destroy();
  await backoff;
  clock.advance(250);
  const second = await server.next();
  const hello = await second.expect('hello');
  assert.equal(hello.resume, undefined, 'the unfinished push is not claimed as processed');
  second.send(welcome({ sessionId: 's2' }));
  await waitForState(client, 'connected');
  second.send(push('slow', 1)); // the server redelivers what was never acked
  second.send({ type: 'heartbeat', seq: 1, serverTime: 0 });
  await second.expect('heartbeat_ack'); // the redelivery has been read by now
  gate.resolve();
  assert.deepEqual(await second.expect('ack'), { type: 'ack', ids: ['slow'], through: 1 });
  assert.deepEqual(emitted, ['slow']);
  assert.equal(first.received.filter((m) => m.type === 'ack').length, 0);
});

test('a burst larger than the ack id limit is acked in several frames', async (t) => {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const { client } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  const count = LIMITS.ackIdsMaxCount + 6;
  conn.send(...Array.from({ length: count }, (_, i) => push(`m${i + 1}`, i + 1)));
  const acked: string[] = [];
  let last: Ack | undefined;
  while (acked.length < count) {
    last = await conn.expect('ack');
    assert.ok((last.ids?.length ?? 0) <= LIMITS.ackIdsMaxCount);
    acked.push(...(last.ids ?? []));
  }
  assert.equal(new Set(acked).size, count);
  assert.equal(last?.through, count);
  assert.equal(client.lastSeq, count);
});

test('through never exceeds what the server sent on this connection', async (t) => {
  // A resume cursor from a server that was wiped since: acking through it would be LP_ACK_INVALID.
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  const { client } = makeClient(t, server.url, { resumeFrom: 100 });
  client.start();
  const conn = await server.next();
  const hello = await conn.accept();
  assert.deepEqual(hello.type === 'hello' && hello.resume, { lastSeq: 100 });
  conn.send(push('fresh', 3));
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['fresh'], through: 3 });
  assert.equal(client.lastSeq, 100);
});
