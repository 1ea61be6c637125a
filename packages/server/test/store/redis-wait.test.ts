/**
 * The Redis store's `waitReplicas`: a write resolves only once that many replicas have it (Redis WAIT),
 * and rejects with LP_STORE_UNAVAILABLE — so that the API answers 503, never a 2xx that a failover could
 * lose — when fewer confirm it in time. A real master and replica on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServerErrorCode } from '../../src/errors.js';
import { openRedisStore, type Store } from '../../src/store/index.js';
import { command, redisSkipReason, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { BOUND, device, message } from './fixtures.js';

describe('redis store: waiting for replicas', { skip: redisSkipReason() }, () => {
  let master: RedisProcess;
  let replica: RedisProcess;
  let store: Store;

  before(async () => {
    master = await startRedis({ appendfsync: 'everysec' });
    replica = await startRedis({
      appendfsync: 'everysec',
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    const deadline = Date.now() + 10_000;
    // Connected and through the initial sync: only then does the replica acknowledge offsets for WAIT.
    while (!(await command(replica.port, 'INFO replication')).includes('master_link_status:up')) {
      if (Date.now() > deadline) throw new Error('the replica did not connect to the master');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    store = await openRedisStore({
      url: master.url,
      prefix: 'wait',
      buckets: 4,
      waitReplicas: 1,
      waitTimeoutMs: 300,
    });
    await store.addDevice(device('d1'));
  });
  after(async () => {
    await store?.close();
    await replica?.stop();
    await master?.stop();
  });

  it('resolves writes the replica confirmed, and refuses to confirm once it is gone', async () => {
    const accepted = await store.enqueue(message('d1', { id: 'replicated' }), BOUND);
    assert.equal(accepted.duplicate, false);
    assert.equal((await command(replica.port, 'EXISTS wait:{m:replicated}')).trim(), ':1');

    await replica.kill('SIGKILL');
    const started = Date.now();
    await assert.rejects(store.enqueue(message('d1', { id: 'unreplicated' }), BOUND), {
      code: ServerErrorCode.STORE_UNAVAILABLE,
    });
    assert.ok(Date.now() - started >= 250, 'it waited for the replica up to the timeout');
    // Reads need no replica.
    assert.equal((await store.getMessage('replicated'))?.id, 'replicated');
  });
});
