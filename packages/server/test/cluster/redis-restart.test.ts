/**
 * Redis crashes under traffic (issue 13): a node (a real server process) on a Redis with AOF and
 * appendfsync always; an application server pushes through the API from several workers while a device
 * receives; Redis is killed with SIGKILL and started again over the same AOF — at once, or after 10 s
 * down. While it is down the API answers 503 and accepts nothing; every message it did accept (2xx)
 * must reach the device's app exactly once and end acked, and the device never has to reconnect.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { assertExactlyOnce, runTraffic } from './traffic.js';

describe('Redis killed under traffic, AOF appendfsync always', { skip: redisSkipReason() }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const scenario = async (downForMs: number, log: (line: string) => void) => {
    let redis: RedisProcess = await startRedis({ appendfsync: 'always' });
    cleanups.push(() => redis.stop());
    const outcome = await runTraffic(
      { redis: { url: redis.url }, total: 800, failAfter: 100 + Math.floor(Math.random() * 400) },
      async () => {
        await redis.kill('SIGKILL');
        if (downForMs > 0) await new Promise((resolve) => setTimeout(resolve, downForMs));
        redis = await startRedis({ appendfsync: 'always', dir: redis.dir, port: redis.port });
      },
      cleanups,
      log,
    );
    await assertExactlyOnce(outcome);
    const { accepted, abandoned, committedWithoutAnswer, refused503, downMs } = outcome;
    log(JSON.stringify({ accepted: accepted.length, abandoned, committedWithoutAnswer, refused503, downMs }));
    return outcome;
  };

  it('restarted at once: no accepted message lost or shown twice', { timeout: 120_000 }, async (t) => {
    await scenario(0, (line) => t.diagnostic(line));
  });

  it(
    'down for 10 s: 503s meanwhile, no accepted message lost or shown twice, recovery by itself',
    { timeout: 150_000 },
    async (t) => {
      const outcome = await scenario(10_000, (line) => t.diagnostic(line));
      assert.ok(outcome.refused503 > 0, 'the API refused with 503 while Redis was down');
      assert.ok(outcome.downMs >= 10_000);
    },
  );
});
