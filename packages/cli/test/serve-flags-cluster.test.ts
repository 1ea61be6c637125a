/** `localpush serve --redis <url>` and the other Redis options → the store's configuration keys. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CliIo } from '../src/common.js';
import { serveConfigFromFlags } from '../src/serve.js';
import { type ServerConfig } from '@localpush/server';
import { startServer } from '@localpush/server';

const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, untilInterrupted: () => Promise.resolve() };

function configOf(args: string[]): Partial<ServerConfig> {
  const config = serveConfigFromFlags(args, io);
  assert.notEqual(config, 'help');
  return config === 'help' ? {} : config;
}

describe('serve --redis', () => {
  it('leaves the store alone without it', () => {
    const config = configOf([]);
    assert.equal(config.store, undefined);
    assert.equal(config.redis, undefined);
  });

  it('a redis:// URL is a standalone server and implies --store redis', () => {
    const config = configOf(['--redis', 'redis://:secret@127.0.0.1:6400/2']);
    assert.equal(config.store, 'redis');
    assert.deepEqual(config.redis, { url: 'redis://:secret@127.0.0.1:6400/2' });
  });

  it('redis+sentinel:// lists sentinels and names the master (default localpush)', () => {
    assert.deepEqual(configOf(['--redis', 'redis+sentinel://10.0.0.1:26379,[::1]:26380/pushes']).redis, {
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'pushes',
    });
    assert.deepEqual(configOf(['--redis', 'redis+sentinel://s:26379']).redis, {
      sentinels: [{ host: 's', port: 26379 }],
      name: 'localpush',
    });
  });

  it('redis+cluster:// lists some masters; prefix and replica wait are options of their own', () => {
    const config = configOf([
      '--redis',
      'redis+cluster://a:7000,b:7001',
      '--redis-prefix',
      'ward4',
      '--redis-wait-replicas',
      '1',
      '--redis-wait-timeout',
      '250ms',
    ]);
    assert.deepEqual(config.redis, {
      cluster: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    assert.deepEqual(
      [config.redisPrefix, config.redisWaitReplicas, config.redisWaitTimeoutMs],
      ['ward4', 1, 250],
    );
  });

  it('refuses what cannot work, naming the flag', () => {
    assert.throws(() => configOf(['--store', 'mongo']), /--store must be one of sqlite, memory, redis/);
    assert.throws(() => configOf(['--redis', 'localhost:6379']), /--redis.*redis:\/\/host:port/);
    assert.throws(() => configOf(['--redis', 'redis+cluster://b']), /--redis.*host:port pairs/);
    assert.throws(
      () => configOf(['--redis', 'redis://a', '--redis-wait-replicas', '99']),
      /--redis-wait-replicas/,
    );
  });

  it('store "redis" with nowhere to connect fails at start, saying what to give', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'localpush-flags-'));
    try {
      await assert.rejects(
        startServer({ store: 'redis', dataDir, logLevel: 'silent' }),
        /needs a Redis to connect to/,
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
