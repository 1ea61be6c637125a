/**
 * The Redis store against the conformance suite on a standalone redis-server of its own (AOF,
 * appendfsync always), started on a free loopback port. Each store gets a key prefix of its own, so the
 * tests share the server without seeing each other's keys. Skipped, saying why, without redis-server.
 */
import { after, describe } from 'node:test';
import { openRedisStore } from '../../src/store/index.js';
import { redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { runStoreConformance } from './conformance.js';

const skip = redisSkipReason();
if (skip !== undefined) {
  describe('redis store conformance (standalone)', { skip }, () => {});
} else {
  let server: Promise<RedisProcess> | undefined;
  let stores = 0;
  after(async () => {
    await (await server)?.stop();
  });
  runStoreConformance('redis (standalone)', async () => {
    server ??= startRedis({ appendfsync: 'always' });
    const { url } = await server;
    stores += 1;
    // Few buckets: the sweep and the device list visit every bucket, and these stores hold few devices.
    const store = await openRedisStore({ url, prefix: `t${stores}`, buckets: 8 });
    return { store, cleanup: () => store.close() };
  });
}
