/**
 * Routing across nodes (issue 13, build item 2): three nodes over one Redis; a device on node C; a push
 * accepted on node A with `wait: true` is delivered through C and answered `delivered` on A; its
 * receipts and the SSE feed are complete on node B; a newer connection of the device on B replaces the
 * one on C (goaway `replaced`), after which pushes through C reach it on B. Real redis-server, real
 * loopback sockets, real DeviceClients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import { redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { apiCall, pollUntil, registerDevice, startRedisNode, type RedisNode } from './helpers.js';

const skip = redisSkipReason();

interface Device {
  client: DeviceClient;
  received: Push[];
}

function connect(node: RedisNode, id: string, credential: string): Device {
  const received: Push[] = [];
  const client = new DeviceClient({
    url: `tls://127.0.0.1:${node.server.addresses.tls.port}`,
    deviceId: id,
    credential,
    pin: node.server.identity.spkiPin,
    backoff: { initialMs: 50, maxMs: 200 },
    onPush: (push) => {
      received.push(push);
    },
  });
  client.start();
  return { client, received };
}

/** Reads a node's SSE receipt feed into `events` as `<id> <event>` until stopped. */
async function follow(node: RedisNode, device: string, events: string[]): Promise<() => void> {
  const controller = new AbortController();
  const response = await fetch(`${node.api}/v1/receipts/stream?device=${device}`, {
    headers: { authorization: `Bearer ${node.server.providerKey}` },
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  const body = response.body as ReadableStream<Uint8Array> | null;
  assert.ok(body);
  const reader = body.getReader();
  void (async () => {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data === undefined) continue;
          const receipt = JSON.parse(data) as { id: string; event: string };
          events.push(`${receipt.id} ${receipt.event}`);
        }
      }
    } catch {
      // aborted
    }
  })();
  return () => controller.abort();
}

describe('three nodes on one Redis', { skip }, () => {
  let redis: RedisProcess;
  const nodes: RedisNode[] = [];

  before(async () => {
    redis = await startRedis({ appendfsync: 'off' });
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedisNode(
          { url: redis.url },
          { redisPrefix: 'routing', heartbeatIntervalMs: 1_000, heartbeatGraceMs: 2_000 },
        ),
      );
    }
  });
  after(async () => {
    for (const node of nodes) await node.close();
    await redis?.stop();
  });

  it('delivers a push accepted on A to the device on C, answers delivered, and shows receipts on B', async () => {
    const [a, b, c] = nodes;
    assert.ok(a && b && c);
    const credential = await registerDevice(a, 'ward-3');
    const device = connect(c, 'ward-3', credential);
    const feed: string[] = [];
    const stopFeed = await follow(b, 'ward-3', feed);
    try {
      await pollUntil('the device on C', () => c.server.gateway.session('ward-3') !== undefined);
      const answer = await apiCall<{ results: { status: string }[] }>(a, 'POST', '/v1/push', {
        to: 'ward-3',
        id: 'call-1',
        kind: 'call',
        payload: { from: 'bed 12' },
        wait: true,
        waitTimeoutMs: 10_000,
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.results[0]?.status, 'delivered');
      assert.deepEqual(
        device.received.map((p) => p.id),
        ['call-1'],
      );
      const status = await apiCall<{ message: { state: string }; receipts: { event: string }[] }>(
        b,
        'GET',
        '/v1/messages/call-1',
      );
      assert.equal(status.body.message.state, 'acked');
      assert.deepEqual(
        status.body.receipts.map((r) => r.event),
        ['accepted', 'sent', 'acked'],
      );
      await pollUntil('the SSE feed on B', () => feed.filter((e) => e.startsWith('call-1 ')).length === 3);
      assert.deepEqual(feed, ['call-1 accepted', 'call-1 sent', 'call-1 acked']);

      // Without waiting: queued on A, delivered through C all the same.
      const queued = await apiCall(a, 'POST', '/v1/push', {
        to: 'ward-3',
        id: 'msg-2',
        kind: 'message',
        payload: {},
      });
      assert.equal(queued.status, 200);
      await pollUntil('msg-2 on the device', () => device.received.some((p) => p.id === 'msg-2'));
    } finally {
      stopFeed();
      await device.client.stop();
    }
  });

  it('delivers a now-or-never push (expiration 0) accepted on A to the device connected on C', async () => {
    const [a, , c] = nodes;
    assert.ok(a && c);
    const credential = await registerDevice(a, 'ward-5');
    const device = connect(c, 'ward-5', credential);
    try {
      await pollUntil('the device on C', () => c.server.gateway.session('ward-5') !== undefined);
      // A does not hold the device: it must ask the directory, not expire the push as if it were offline.
      const answer = await apiCall<{ results: { status: string }[] }>(a, 'POST', '/v1/push', {
        to: 'ward-5',
        id: 'now-1',
        kind: 'call',
        payload: { from: 'bed 7' },
        expiration: 0,
        wait: true,
        waitTimeoutMs: 10_000,
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.results[0]?.status, 'delivered', JSON.stringify(answer.body));
      assert.deepEqual(
        device.received.map((p) => p.id),
        ['now-1'],
      );
    } finally {
      await device.client.stop();
    }
    // Offline everywhere, a now-or-never push is still expired at once.
    await pollUntil('the device gone from every node', async () => {
      const listed = await apiCall<{ device: { online: boolean } }>(a, 'GET', '/v1/devices/ward-5');
      return listed.body.device.online === false;
    });
    const offline = await apiCall<{ results: { status: string }[] }>(a, 'POST', '/v1/push', {
      to: 'ward-5',
      id: 'now-2',
      kind: 'call',
      payload: {},
      expiration: 0,
    });
    assert.equal(offline.body.results[0]?.status, 'expired', JSON.stringify(offline.body));
  });

  it('replaces the session on C with a newer one on B, and routes to B from then on', async () => {
    const [a, b, c] = nodes;
    assert.ok(a && b && c);
    const credential = await registerDevice(a, 'ward-4');
    const older = connect(c, 'ward-4', credential);
    let newer: Device | undefined;
    try {
      await pollUntil('the device on C', () => c.server.gateway.session('ward-4') !== undefined);
      newer = connect(b, 'ward-4', credential);
      await pollUntil('the older session to be told it was replaced', () => older.client.state === 'stopped');
      await pollUntil('C to let the device go', () => c.server.gateway.session('ward-4') === undefined);
      assert.ok(b.server.gateway.session('ward-4'));
      const answer = await apiCall<{ results: { status: string }[] }>(c, 'POST', '/v1/push', {
        to: 'ward-4',
        id: 'after-move',
        kind: 'alert',
        payload: {},
        wait: true,
        waitTimeoutMs: 10_000,
      });
      assert.equal(answer.body.results[0]?.status, 'delivered', JSON.stringify(answer.body));
      assert.deepEqual(
        newer.received.map((p) => p.id),
        ['after-move'],
      );
      assert.deepEqual(older.received, []);
      // Every node now sees the device online (A learns it by asking the directory).
      const listed = await apiCall<{ device: { online: boolean } }>(b, 'GET', '/v1/devices/ward-4');
      assert.equal(listed.body.device.online, true);
    } finally {
      await older.client.stop();
      await newer?.client.stop();
    }
  });
});
