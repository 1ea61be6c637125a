/**
 * Redis down under a running node (issue 13, "durability stated"): while Redis cannot be reached the API
 * answers 503 LP_API_STORE_UNAVAILABLE with Retry-After and reports nothing as accepted; the connected
 * device stays connected on the same session; when Redis is back (restarted over its AOF, appendfsync
 * always) the node recovers by itself: what was accepted before is still there and new pushes are
 * delivered to the same session. Real redis-server, real sockets, real DeviceClient.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import { redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { apiCall, pollUntil, registerDevice, startRedisNode, type RedisNode } from './helpers.js';

const skip = redisSkipReason();

describe('a node on Redis while Redis is down', { skip }, () => {
  let redis: RedisProcess;
  let node: RedisNode;

  before(async () => {
    redis = await startRedis({ appendfsync: 'always' });
    // A generous grace: on a loaded machine a 500 ms one can time out by itself, and the point here is
    // that the outage alone never costs the device its session.
    node = await startRedisNode({ url: redis.url }, { heartbeatIntervalMs: 1_000, heartbeatGraceMs: 5_000 });
  });
  after(async () => {
    await node?.close();
    await redis?.stop();
  });

  it('answers 503 while Redis is down, keeps the device connected, and recovers by itself', async () => {
    const credential = await registerDevice(node, 'nurse-7');
    const received: Push[] = [];
    let connects = 0;
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${node.server.addresses.tls.port}`,
      deviceId: 'nurse-7',
      credential,
      pin: node.server.identity.spkiPin,
      backoff: { initialMs: 50, maxMs: 200 },
      onPush: (push) => {
        received.push(push);
      },
    });
    client.on('connected', () => {
      connects += 1;
    });
    client.start();
    try {
      await pollUntil('the device to connect', () => connects === 1);
      const before = await apiCall(node, 'POST', '/v1/push', {
        to: 'nurse-7',
        id: 'before-outage',
        kind: 'alert',
        payload: { n: 1 },
        wait: true,
      });
      assert.equal(before.status, 200, JSON.stringify(before.body));

      // Redis crashes (SIGKILL): its AOF has every write it answered.
      await redis.kill('SIGKILL');
      const refused = await apiCall<{ error: { code: string } }>(node, 'POST', '/v1/push', {
        to: 'nurse-7',
        id: 'during-outage',
        kind: 'alert',
        payload: { n: 2 },
      });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'LP_API_STORE_UNAVAILABLE');
      assert.equal(refused.headers.get('retry-after'), '1');
      const status = await apiCall<{ error: { code: string } }>(node, 'GET', '/v1/messages/before-outage');
      assert.equal(status.status, 503);
      // Heartbeats do not need the store: the device is still on its first session.
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      assert.equal(client.state, 'connected');
      assert.equal(connects, 1);

      redis = await startRedis({ appendfsync: 'always', dir: redis.dir, port: redis.port });
      await pollUntil(
        'the API to accept pushes again',
        async () => (await apiCall(node, 'GET', '/v1/messages/before-outage')).status === 200,
      );
      const kept = await apiCall<{ message: { state: string } }>(node, 'GET', '/v1/messages/before-outage');
      assert.equal(kept.body.message.state, 'acked');
      // Nothing was accepted during the outage: the refused id is unknown.
      assert.equal((await apiCall(node, 'GET', '/v1/messages/during-outage')).status, 404);

      const again = await apiCall<{ results: { status: string }[] }>(node, 'POST', '/v1/push', {
        to: 'nurse-7',
        id: 'during-outage',
        kind: 'alert',
        payload: { n: 2 },
        wait: true,
      });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.results[0]?.status, 'delivered');
      assert.deepEqual(
        received.map((p) => p.id),
        ['before-outage', 'during-outage'],
      );
      assert.equal(connects, 1, 'the device never had to reconnect');
    } finally {
      await client.stop();
    }
  });
});
