/**
 * The Redis store against the conformance suite on a Redis Cluster of three masters on loopback, so
 * that every script is shown to touch one slot only and the id claims work across nodes. Skipped,
 * saying why, without redis-server / redis-cli.
 */
import { after, describe } from 'node:test';
import { openRedisStore } from '../../src/store/index.js';
import { redisSkipReason, startRedisCluster, type RedisClusterProcess } from '../helpers/redis-server.js';
import { runStoreConformance } from './conformance.js';

const skip = redisSkipReason();
if (skip !== undefined) {
  describe('redis store conformance (cluster)', { skip }, () => {});
} else {
  let cluster: Promise<RedisClusterProcess> | undefined;
  let stores = 0;
  after(async () => {
    await (await cluster)?.stop();
  });
  runStoreConformance('redis (cluster of 3)', async () => {
    cluster ??= startRedisCluster(3);
    const { addresses } = await cluster;
    stores += 1;
    const store = await openRedisStore({ cluster: addresses, prefix: `t${stores}`, buckets: 16 });
    return { store, cleanup: () => store.close() };
  });
}
