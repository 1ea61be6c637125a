/**
 * Which session directory a server runs with: the local one, or — on the Redis store, where several
 * nodes share the data — the Redis directory with its bus, and the engine wrapped so that pushes, acks
 * and receipts cross nodes (relay.ts).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Clock } from '@localpush/protocol';
import type { ServerConfig } from '../config.js';
import type { DeliveryEngineImpl } from '../engine/contracts.js';
import { LocalSessionDirectory } from './local.js';
import { openRedisBus, type ClusterBus } from './redis-bus.js';
import { openRedisSessionDirectory } from './redis.js';
import { ClusterRelay } from './relay.js';
import type { SessionDirectory } from './types.js';

export interface PresenceParts {
  readonly presence: SessionDirectory;
  /** The engine every feature should use: the given one, or the cluster relay around it. */
  readonly engine: DeliveryEngineImpl;
  /** The bus, on a cluster. */
  readonly bus: ClusterBus | null;
  /** Closes the engine, then the directory and the bus. */
  close(): Promise<void>;
}

type Logger = { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };

/** This node's name in presence records: host, pid and a random suffix (a restart is a new node). */
export function newNodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function openPresence(
  config: ServerConfig,
  engine: DeliveryEngineImpl,
  clock: Clock,
  logger: Logger,
): Promise<PresenceParts> {
  if (config.store !== 'redis' || config.redis === null) {
    return {
      presence: new LocalSessionDirectory({ clock, logger }),
      engine,
      bus: null,
      close: () => engine.close(),
    };
  }
  const redis = config.redis;
  const bus = await openRedisBus({ redis, prefix: config.redisPrefix, nodeId: newNodeId(), logger });
  try {
    const renewEveryMs = Math.min(1_000, Math.max(50, config.heartbeatGraceMs / 2));
    const presence = await openRedisSessionDirectory({
      redis,
      bus,
      clock,
      prefix: config.redisPrefix,
      leaseMs: config.heartbeatIntervalMs + config.heartbeatGraceMs + renewEveryMs,
      renewEveryMs,
      logger,
    });
    const relay = new ClusterRelay({ engine, presence, bus, clock, logger });
    return {
      presence,
      engine: relay,
      bus,
      async close() {
        await relay.close();
        await presence.close();
        await bus.close();
      },
    };
  } catch (error) {
    await bus.close();
    throw error;
  }
}
