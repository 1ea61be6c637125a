/**
 * Redis crashes under traffic (issue 13): a node (a real server process) on a Redis with AOF and
 * appendfsync always; an application server pushes through the API from several workers while a device
 * receives; Redis is killed with SIGKILL and started again over the same AOF — at once, or after 10 s
 * down. While it is down the API answers 503 and accepts nothing; every message it did accept (2xx)
 * must reach the device's app exactly once and end acked, and the device never has to reconnect.
 *
 * The crash test's sender is reused (test/crash/sender.ts): a 503 counts as an outage failure there, half
 * of the failed requests are retried with the same ids once the API accepts again, half are given up.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { ServerConfig } from '../../src/config.js';
import {
  apiRequest,
  deferred,
  seededRandom,
  spawnServer,
  stopServer,
  within,
  type ServerChild,
} from '../crash/harness.js';
import { Sender, planChunks } from '../crash/sender.js';
import { redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { pollUntil } from './helpers.js';

const DEVICE = 'ward-phone';
const TOTAL = 800;

interface Run {
  accepted: number;
  abandoned: number;
  committedWithoutAnswer: number;
  refused503: number;
  downMs: number;
}

describe('Redis killed under traffic, AOF appendfsync always', { skip: redisSkipReason() }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const scenario = async (downForMs: number, log: (line: string) => void): Promise<Run> => {
    const seed = Number(process.env.LOCALPUSH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const killAfter = 150 + Math.floor(random() * 500);
    log(`seed ${seed}, Redis killed after ${killAfter} accepted, down for ${downForMs} ms`);

    let redis: RedisProcess = await startRedis({ appendfsync: 'always' });
    cleanups.push(() => redis.stop());
    const dataDir = await mkdtemp(join(tmpdir(), 'localpush-redis-crash-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const config: Partial<ServerConfig> = {
      dataDir,
      host: '127.0.0.1',
      tlsPort: 0,
      wsPort: null,
      apiPort: 0,
      store: 'redis',
      redis: { url: redis.url },
      redisPrefix: `crash${downForMs}`,
      logLevel: 'warn',
      heartbeatIntervalMs: 1_000,
      // Generous: the point is that the outage alone never costs the device its session.
      heartbeatGraceMs: 5_000,
      maxQueuePerDevice: 100_000,
    };
    const server: ServerChild = await spawnServer(config);
    cleanups.push(() => stopServer(server));
    const { tlsPort, apiPort, pin, providerKey } = server.info;
    const enrol = await apiRequest(apiPort, providerKey, 'POST', '/v1/devices', { id: DEVICE });
    assert.ok(enrol.kind === 'answer' && enrol.status === 201, JSON.stringify(enrol));
    const { credential } = enrol.body as { credential: string };

    const seen = new Map<string, number>();
    let connects = 0;
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${tlsPort}`,
      deviceId: DEVICE,
      credential,
      pin,
      backoff: { initialMs: 50, maxMs: 300 },
      onPush: (push) => {
        seen.set(push.id, (seen.get(push.id) ?? 0) + 1);
      },
    });
    client.on('connected', () => {
      connects += 1;
    });
    cleanups.push(() => client.stop());
    client.start();
    await pollUntil('the device to connect', () => connects === 1);

    const crashed = deferred<void>();
    let crashing = false;
    const sender: Sender = new Sender(planChunks(TOTAL, random), {
      apiPort,
      providerKey,
      deviceId: DEVICE,
      concurrency: 8,
      onAccepted: () => {},
      onAnswer: () => {
        if (crashing || sender.accepted.size < killAfter) return;
        crashing = true;
        sender.serverDown();
        crashed.resolve();
      },
    });
    cleanups.push(() => Promise.resolve(sender.stop()));
    const sending = sender.run();

    await within(crashed.promise, 30_000, () => `${sender.accepted.size} accepted before the kill`);
    const downAt = Date.now();
    await redis.kill('SIGKILL');
    if (downForMs > 0) await new Promise((resolve) => setTimeout(resolve, downForMs));
    redis = await startRedis({ appendfsync: 'always', dir: redis.dir, port: redis.port });
    // The node reconnects by itself; the sender goes on once the API accepts again.
    await pollUntil(
      'the API to accept again',
      async () => {
        const probe = await apiRequest(apiPort, providerKey, 'GET', `/v1/devices/${DEVICE}`);
        return probe.kind === 'answer' && probe.status === 200;
      },
      20_000,
    );
    const downMs = Date.now() - downAt;
    sender.serverUp();
    await within(sending, 60_000, () => `sending: ${sender.accepted.size} accepted`);

    const accepted = [...sender.accepted.keys()];
    await pollUntil(
      `every accepted message at the app (${accepted.filter((id) => !seen.has(id)).length} missing)`,
      () => accepted.every((id) => seen.has(id)),
      30_000,
    );
    const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(twice, [], 'no message reached the app twice');
    const extra = [...seen.keys()].filter((id) => !sender.accepted.has(id) && !sender.posted.has(id));
    assert.deepEqual(extra, [], 'nothing reached the app that was never sent');
    for (const id of accepted) {
      await pollUntil(`${id} acked in the store`, async () => {
        const now = await apiRequest(apiPort, providerKey, 'GET', `/v1/messages/${id}`);
        return (
          now.kind === 'answer' && (now.body as { message?: { state?: string } }).message?.state === 'acked'
        );
      });
    }
    assert.equal(connects, 1, 'the device stayed on its first session');
    const run: Run = {
      accepted: accepted.length,
      abandoned: sender.abandoned.size,
      committedWithoutAnswer: sender.committedWithoutAnswer.size,
      refused503: sender.failures.get('HTTP_503') ?? 0,
      downMs,
    };
    log(JSON.stringify(run));
    return run;
  };

  it('restarted at once: no accepted message lost or shown twice', { timeout: 120_000 }, async (t) => {
    await scenario(0, (line) => t.diagnostic(line));
  });

  it(
    'down for 10 s: 503s meanwhile, no accepted message lost or shown twice, recovery by itself',
    { timeout: 150_000 },
    async (t) => {
      const run = await scenario(10_000, (line) => t.diagnostic(line));
      assert.ok(run.refused503 > 0, 'the API refused with 503 while Redis was down');
      assert.ok(run.downMs >= 10_000);
    },
  );
});
