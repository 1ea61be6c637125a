/**
 * The `redis` option's kind: where the Redis store is, written as one URL so that a flag, a variable and
 * a config-file key each hold it whole.
 *
 *   redis://[user:password@]host:port[/db]          a standalone server (rediss:// for TLS)
 *   redis+sentinel://host:port,host:port[/master]    the master the sentinels name (default "localpush")
 *   redis+cluster://host:port,host:port              some masters of a Redis Cluster
 */
import { z } from 'zod';
import type { Kind } from './kinds.js';

const addressSchema = z
  .object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })
  .strict();

export const redisTargetSchema = z.union([
  z.object({ url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://') }).strict(),
  z.object({ sentinels: z.array(addressSchema).min(1), name: z.string().min(1) }).strict(),
  z.object({ cluster: z.array(addressSchema).min(1) }).strict(),
]);
export type RedisTarget = z.infer<typeof redisTargetSchema>;

/** The master name used when a sentinel URL names none. */
export const DEFAULT_SENTINEL_MASTER = 'localpush';

function addresses(list: string, shown: string): { host: string; port: number }[] {
  return list.split(',').map((item) => {
    const match = /^\s*(\[[^\]]+\]|[^:\s/]+):(\d+)\s*$/.exec(item);
    const port = Number(match?.[2]);
    if (match?.[1] === undefined || !(port >= 1 && port <= 65535)) {
      throw new Error(`must list host:port pairs, got "${item}" in "${shown}"`);
    }
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
}

function parseTarget(text: string): RedisTarget {
  const value = text.trim();
  const sentinel = /^redis\+sentinel:\/\/([^/]+)(?:\/([^/]*))?$/.exec(value);
  if (sentinel !== null) {
    return { sentinels: addresses(sentinel[1] ?? '', value), name: sentinel[2] || DEFAULT_SENTINEL_MASTER };
  }
  const cluster = /^redis\+cluster:\/\/([^/]+)\/?$/.exec(value);
  if (cluster !== null) return { cluster: addresses(cluster[1] ?? '', value) };
  if (/^rediss?:\/\/[^/]/.test(value)) return { url: value };
  throw new Error(
    `must be redis://host:port[/db], redis+sentinel://host:port,…[/master] or redis+cluster://host:port,…, got "${text}"`,
  );
}

/** The value as written, with any password hidden. */
function showTarget(value: RedisTarget | null): string {
  if (value === null) return 'none';
  const list = (a: { host: string; port: number }[]): string =>
    a.map((x) => `${x.host.includes(':') ? `[${x.host}]` : x.host}:${x.port}`).join(',');
  if ('url' in value) return value.url.replace(/\/\/[^@/]*@/, '//***@');
  if ('sentinels' in value) return `redis+sentinel://${list(value.sentinels)}/${value.name}`;
  return `redis+cluster://${list(value.cluster)}`;
}

export function redisTarget(): Kind<RedisTarget | null> {
  return {
    schema: redisTargetSchema.nullable(),
    valueName: '<url>',
    parse: (text) => parseTarget(text),
    fromFile: (value) => {
      if (value === false) return null;
      if (typeof value !== 'string')
        throw new Error('must be a redis://, redis+sentinel:// or redis+cluster:// URL');
      return parseTarget(value);
    },
    show: showTarget,
    // A file holds the URL; a target read from one (sentinels, cluster) is written back the same way.
    toFile: (value) => (value === null ? undefined : 'url' in value ? value.url : showTarget(value)),
  };
}
