/**
 * The Redis session directory passes the presence conformance suite on a standalone Redis and on a
 * Redis Cluster of three masters (sharded pub/sub), every node a directory with a bus of its own over
 * one real redis-server on loopback. Skipped, saying why, without redis-server / redis-cli.
 */
import { after, describe } from 'node:test';
import { systemClock } from '@localpush/protocol';
import type { RedisConnectionOptions } from '../../src/store/index.js';
import { openRedisBus } from '../../src/presence/redis-bus.js';
import { openRedisSessionDirectory, type RedisSessionDirectory } from '../../src/presence/redis.js';
import {
  redisSkipReason,
  startRedis,
  startRedisCluster,
  type RedisClusterProcess,
  type RedisProcess,
} from '../helpers/redis-server.js';
import { runPresenceConformance, type PresenceFixture } from './conformance.js';

const LEASE_MS = 400;
let fixtures = 0;

async function nodesOver(redis: RedisConnectionOptions, count: number): Promise<PresenceFixture> {
  const prefix = `pt${++fixtures}`;
  const parts: { close(): Promise<void> }[] = [];
  const nodes: RedisSessionDirectory[] = [];
  for (let i = 0; i < count; i++) {
    const bus = await openRedisBus({ redis, prefix, nodeId: `node-${i}` });
    const directory = await openRedisSessionDirectory({
      redis,
      bus,
      prefix,
      clock: systemClock,
      leaseMs: LEASE_MS,
      renewEveryMs: 50,
    });
    parts.push(directory, bus);
    nodes.push(directory);
  }
  return {
    nodes,
    cleanup: async () => {
      for (const part of parts) await part.close();
    },
  };
}

const skip = redisSkipReason();
if (skip !== undefined) {
  describe('redis presence conformance', { skip }, () => {});
} else {
  let standalone: Promise<RedisProcess> | undefined;
  let cluster: Promise<RedisClusterProcess> | undefined;
  after(async () => {
    await (await standalone)?.stop();
    await (await cluster)?.stop();
  });
  runPresenceConformance('redis', {
    maxNodes: 3,
    leaseMs: LEASE_MS,
    create: async (count) => {
      standalone ??= startRedis({ appendfsync: 'off' });
      return nodesOver({ url: (await standalone).url }, count);
    },
  });
  runPresenceConformance('redis (cluster of 3)', {
    maxNodes: 3,
    leaseMs: LEASE_MS,
    create: async (count) => {
      cluster ??= startRedisCluster(3);
      return nodesOver({ cluster: (await cluster).addresses }, count);
    },
  });
}
