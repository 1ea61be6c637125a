/**
 * Connecting the Redis store: one ioredis client for a standalone server (`url`), a Sentinel-watched
 * master (`sentinels` + `name`) or a Redis Cluster (`cluster`), set up to fail fast rather than queue:
 * while Redis cannot be reached every operation rejects at once with LP_STORE_UNAVAILABLE (the API
 * answers 503), and the client keeps reconnecting in the background until Redis is back.
 */
import { createHash } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ServerErrorCode, StoreError } from '../errors.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';

export interface RedisAddress {
  host: string;
  port: number;
}

/** Where Redis is: exactly one of `url`, `sentinels` or `cluster`. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` of a standalone server. */
  url?: string;
  /** Sentinels watching the master named `name`; the client asks them for the current master. */
  sentinels?: RedisAddress[];
  /** The master's name as the sentinels know it (default `localpush`). */
  name?: string;
  /** Some masters of a Redis Cluster; the client learns the rest. */
  cluster?: RedisAddress[];
  /** Password for the servers (a URL may carry its own). */
  password?: string;
  /** An operation with no reply within this time fails as unavailable (default 5 s). */
  commandTimeoutMs?: number;
}

/** What the store needs of a client: plain commands and its scripts by name, and quitting. */
export type RedisClient = Redis | Cluster;

/** Reply-error prefixes that mean "Redis cannot serve right now", not "this request is wrong". */
const UNAVAILABLE_REPLIES = [
  'CLUSTERDOWN',
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'TRYAGAIN',
  'NOREPLICAS',
  'MISCONF',
  'BUSY',
];

/**
 * Creates the client; it connects in the background (see waitUntilReady). `shardedSubscribers` makes a
 * Cluster client keep a subscriber per shard, for SSUBSCRIBE (the presence bus).
 */
export function createRedisClient(
  options: RedisConnectionOptions,
  extra: { shardedSubscribers?: boolean } = {},
): RedisClient {
  const given = [options.url, options.sentinels, options.cluster].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw new StoreError(
      ServerErrorCode.CONFIG_INVALID,
      'the Redis store needs exactly one of a URL, sentinels or cluster nodes',
    );
  }
  const common: RedisOptions = {
    // Fail fast while disconnected: an operation that cannot reach Redis must answer 503 now, not hang.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 5_000,
    enableAutoPipelining: true,
    lazyConnect: false,
    ...(options.password !== undefined ? { password: options.password } : {}),
  };
  const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2_000);
  if (options.cluster !== undefined) {
    return new Cluster(options.cluster, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: retryStrategy,
      ...(extra.shardedSubscribers === true ? { shardedSubscribers: true } : {}),
      redisOptions: {
        maxRetriesPerRequest: 0,
        commandTimeout: common.commandTimeout,
        ...(options.password !== undefined ? { password: options.password } : {}),
      },
    });
  }
  if (options.sentinels !== undefined) {
    return new Redis({
      ...common,
      sentinels: options.sentinels,
      name: options.name ?? 'localpush',
      retryStrategy,
    });
  }
  return new Redis(options.url ?? '', { ...common, retryStrategy });
}

/** Resolves once the client is connected; rejects with LP_STORE_UNAVAILABLE after `timeoutMs`. */
export async function waitUntilReady(client: RedisClient, timeoutMs: number, where: string): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError: unknown;
    const onError = (error: unknown): void => {
      lastError = error;
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new StoreError(
          ServerErrorCode.STORE_UNAVAILABLE,
          `Redis at ${where} could not be reached within ${timeoutMs} ms${lastError instanceof Error ? `: ${lastError.message}` : ''} — start it, or check --redis`,
          { cause: lastError },
        ),
      );
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/** Turns a failure to reach or use Redis into LP_STORE_UNAVAILABLE; other errors pass unchanged. */
export function translateRedisError(error: unknown): Error {
  if (error instanceof StoreError) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const isReply = err.name === 'ReplyError';
  if (isReply && !UNAVAILABLE_REPLIES.some((prefix) => err.message.startsWith(prefix))) return err;
  return new StoreError(ServerErrorCode.STORE_UNAVAILABLE, `Redis is unavailable: ${err.message}`, {
    cause: err,
  });
}

const SHAS = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, lua]) => [name, createHash('sha1').update(lua).digest('hex')]),
) as Record<ScriptName, string>;

/**
 * Runs one of the store's scripts: EVALSHA, and EVAL once when this server does not have it cached yet
 * (a restarted Redis or a new Cluster node). Both are single commands, so auto-pipelining batches them.
 */
export async function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(SHAS[name], keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw translateRedisError(error);
  }
  try {
    return await client.eval(SCRIPTS[name], keys.length, ...keys, ...args);
  } catch (error) {
    throw translateRedisError(error);
  }
}
