/**
 * One source of configuration: every option comes from one table, with the same spelling as a flag, a
 * LOCALPUSH_* variable and a config-file key, and precedence flag > environment > file > default.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_HEARTBEAT, DEFAULT_MAX_FRAME_BYTES } from '@localpush/protocol';
import {
  ConfigError,
  DEFAULT_CONFIG,
  SERVER_OPTIONS,
  envName,
  layerFromEnv,
  layerFromFlags,
  layerFromToml,
  loadServerConfig,
  optionSpellings,
  resolveConfig,
  resolveLayers,
} from '@localpush/server';
import { DEFAULT_ENGINE_OPTIONS } from '@localpush/server';
import { DEFAULT_CONNECTION_OPTIONS } from '@localpush/server';
import { CONFIG_FILE_EXAMPLE } from '../src/docs.js';
import { run } from '../src/main.js';
import type { CliIo } from '../src/common.js';

describe('configuration: one table', () => {
  it('spells every option once as a flag, a variable and a file key', () => {
    const spellings = optionSpellings();
    const flags = spellings.flatMap((s) => [s.flag, ...(s.option.aliases ?? []).map((a) => a.flag)]);
    assert.equal(new Set(flags).size, flags.length, 'a flag is declared twice');
    for (const s of spellings) {
      assert.equal(s.env, envName(s.flag));
      assert.match(s.env, /^LOCALPUSH_[A-Z0-9_]+$/);
      assert.equal(s.fileKey, s.flag);
    }
    assert.deepEqual(
      Object.keys(DEFAULT_CONFIG).sort(),
      Object.keys(SERVER_OPTIONS).sort(),
      'every configuration key has its option',
    );
  });

  it('has defaults that validate, and takes the figures other modules own from them', () => {
    assert.deepEqual(resolveConfig({}), DEFAULT_CONFIG);
    assert.equal(DEFAULT_CONFIG.heartbeatIntervalMs, DEFAULT_HEARTBEAT.intervalMs);
    assert.equal(DEFAULT_CONFIG.heartbeatGraceMs, DEFAULT_HEARTBEAT.graceMs);
    assert.equal(DEFAULT_CONNECTION_OPTIONS.heartbeatIntervalMs, DEFAULT_HEARTBEAT.intervalMs);
    assert.equal(DEFAULT_CONFIG.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    assert.equal(DEFAULT_CONFIG.helloTimeoutMs, DEFAULT_CONNECTION_OPTIONS.helloTimeoutMs);
    assert.equal(DEFAULT_CONFIG.maxWriteQueueBytes, DEFAULT_CONNECTION_OPTIONS.maxWriteQueueBytes);
    assert.equal(DEFAULT_CONFIG.maxQueuePerDevice, DEFAULT_ENGINE_OPTIONS.maxQueuePerDevice);
    assert.equal(DEFAULT_CONFIG.defaultTtlSeconds, DEFAULT_ENGINE_OPTIONS.defaultTtlSeconds);
    assert.equal(DEFAULT_CONFIG.ackTimeoutMs, DEFAULT_ENGINE_OPTIONS.ackTimeoutMs);
  });

  it('still names every bad field given in code', () => {
    assert.throws(
      () => resolveConfig({ tlsPort: 70_000, heartbeatIntervalMs: 1 }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'LP_CONFIG_INVALID' &&
        /tlsPort/.test(error.message) &&
        /heartbeatIntervalMs/.test(error.message),
    );
  });
});

describe('configuration: precedence flag > environment > file > default', () => {
  const file = layerFromToml(
    ['tls-port = 1001', 'api-port = 1002', 'max-queue = 10', 'heartbeat-interval = "30s"'].join('\n'),
    '/etc/lp.toml',
  );
  const env = layerFromEnv({ LOCALPUSH_API_PORT: '2002', LOCALPUSH_MAX_QUEUE: '20' }, '/');
  const flags = layerFromFlags({ 'max-queue': '30' }, '/');

  it('takes each option from the highest layer that sets it', () => {
    const { config, sources, where } = resolveLayers([file, env, flags]);
    assert.equal(config.tlsPort, 1001);
    assert.equal(config.apiPort, 2002);
    assert.equal(config.maxQueuePerDevice, 30);
    assert.equal(config.heartbeatIntervalMs, 30_000);
    assert.equal(config.wsPort, DEFAULT_CONFIG.wsPort);
    assert.equal(sources.tlsPort, 'file');
    assert.equal(sources.apiPort, 'env');
    assert.equal(sources.maxQueuePerDevice, 'flag');
    assert.equal(sources.wsPort, 'default');
    assert.equal(where.tlsPort, '/etc/lp.toml: tls-port');
    assert.equal(where.apiPort, 'LOCALPUSH_API_PORT');
    assert.equal(where.maxQueuePerDevice, '--max-queue');
  });

  it('reads the layers of `serve` itself: --config, then LOCALPUSH_*, then flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lp-config-'));
    try {
      const path = join(dir, 'serve.toml');
      await writeFile(
        path,
        '# comments are welcome\ndata-dir = "state"\nstore = "memory"\ntcp-port = 7703\n',
      );
      const effective = await loadServerConfig({
        flags: layerFromFlags({ 'tcp-port': '7704' }, dir),
        env: { LOCALPUSH_CONFIG: path, LOCALPUSH_STORE: 'sqlite' },
        cwd: dir,
      });
      assert.equal(effective.file, path);
      assert.equal(effective.config.dataDir, join(dir, 'state'), "a file's relative path is the file's");
      assert.equal(effective.config.store, 'sqlite');
      assert.equal(effective.config.tcpPort, 7704);
      assert.deepEqual(
        [effective.sources.dataDir, effective.sources.store, effective.sources.tcpPort],
        ['file', 'env', 'flag'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration: reading each layer', () => {
  it('reads switches, aliases and ports that can be off in every layer', () => {
    assert.equal(layerFromFlags({ 'no-ws': true }).values.wsPort, null);
    assert.equal(layerFromFlags({ 'no-ws': true, 'ws-port': '9' }).values.wsPort, 9);
    assert.equal(layerFromEnv({ LOCALPUSH_WS_PORT: 'off' }).values.wsPort, null);
    assert.equal(layerFromToml('ws-port = false', '/x.toml').values.wsPort, null);
    assert.equal(layerFromFlags({ 'ws-plain': true }).values.wsTls, false);
    assert.equal(layerFromEnv({ LOCALPUSH_WS_PLAIN: 'yes' }).values.wsTls, false);
    assert.equal(layerFromToml('ws-plain = true', '/x.toml').values.wsTls, false);
    const on = { controlPort: 5060, notificationPort: 3000 };
    assert.deepEqual(layerFromEnv({ LOCALPUSH_SIMPLEPUSH: '1' }).values.simplepush, on);
    assert.deepEqual(layerFromToml('simplepush = true', '/x.toml').values.simplepush, on);
    assert.deepEqual(layerFromToml('simplepush-ports = [6060, 4000]', '/x.toml').values.simplepush, {
      controlPort: 6060,
      notificationPort: 4000,
    });
    assert.equal(layerFromEnv({ LOCALPUSH_SIMPLEPUSH: '0' }).values.simplepush, undefined);
  });

  it('reads APNs keys as repeated flags, a list in a variable, and tables in a file', () => {
    const fromFlags = layerFromFlags({ 'apns-key': ['T1:K1:/a.p8', 'T2:K2:/b.p8'] }).values.apnsKeys;
    const fromEnv = layerFromEnv({ LOCALPUSH_APNS_KEY: 'T1:K1:/a.p8, T2:K2:/b.p8' }).values.apnsKeys;
    assert.deepEqual(fromFlags, fromEnv);
    const fromFile = layerFromToml(
      '[[apns-key]]\nteamId = "T1"\nkeyId = "K1"\npath = "keys/a.p8"\ntopics = ["com.example"]\n',
      '/etc/lp/serve.toml',
    ).values.apnsKeys;
    assert.deepEqual(fromFile, [
      { teamId: 'T1', keyId: 'K1', path: '/etc/lp/keys/a.p8', topics: ['com.example'] },
    ]);
  });

  it('puts a proxy from one layer into a fallback from another, with the endpoint environment', () => {
    const { config } = resolveLayers([
      layerFromToml('apns-fallback = "T:K:/k.p8"\napns-environment = "production"', '/x.toml'),
      layerFromEnv({ LOCALPUSH_APNS_PROXY: 'http://proxy:3128' }),
    ]);
    assert.deepEqual(config.apnsFallback, {
      teamId: 'T',
      keyId: 'K',
      privateKeyPath: '/k.p8',
      environment: 'production',
      proxy: 'http://proxy:3128',
    });
    assert.throws(
      () => resolveLayers([layerFromEnv({ LOCALPUSH_APNS_PROXY: 'http://p:1' })]),
      /LOCALPUSH_APNS_PROXY needs --apns-fallback/,
    );
  });

  it('names the variable, the flag or the file key of a bad value', () => {
    assert.throws(
      () => layerFromEnv({ LOCALPUSH_HEARTBEAT_INTERVAL: 'soon' }),
      /LOCALPUSH_HEARTBEAT_INTERVAL: "soon" is not a duration/,
    );
    assert.throws(
      () => layerFromFlags({ 'tls-port': '70000' }),
      /--tls-port must be a whole number from 0 to 65535/,
    );
    assert.throws(
      () => layerFromFlags({ 'heartbeat-interval': '100ms' }),
      /--heartbeat-interval must be from 1s to 1h/,
    );
    assert.throws(
      () => layerFromToml('store = "mongo"', '/x.toml'),
      /\/x\.toml: store must be one of sqlite, memory, redis/,
    );
    assert.throws(() => layerFromToml('max-frame = true', '/x.toml'), /max-frame must be a size/);
  });

  it('refuses unknown keys and broken TOML, with where', () => {
    assert.throws(() => layerFromToml('tls_port = 1', '/x.toml'), /\/x\.toml: unknown key "tls_port"/);
    assert.throws(
      () => layerFromToml('tls-port = 1\napi-port = = 2', '/x.toml'),
      (error: unknown) =>
        error instanceof ConfigError && /\/x\.toml:2:\d+: not valid TOML/.test(error.message),
    );
  });

  it('reads the example of docs/cli.md', () => {
    const layer = layerFromToml(CONFIG_FILE_EXAMPLE.join('\n'), '/etc/localpush/serve.toml');
    const { config } = resolveLayers([layer]);
    assert.equal(config.heartbeatIntervalMs, 30_000);
    assert.equal(config.apnsKeys[0]?.path, '/etc/localpush/AuthKey_KEY1234567.p8');
  });
});

describe('localpush serve --config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-serve-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cli = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    let stderr = '';
    const io: CliIo = {
      stdout() {},
      stderr: (t) => (stderr += t),
      env,
      untilInterrupted: () => Promise.resolve(),
    };
    return { code: await run(argv, io), stderr };
  };

  it('is a usage error (exit 2) to name a missing file, or a file with a bad value', async () => {
    const missing = await cli(['serve', '--config', join(dir, 'absent.toml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the config file .*absent\.toml: ENOENT/);
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, 'tls-port = "seventy"\n');
    const fromEnv = await cli(['serve'], { LOCALPUSH_CONFIG: bad });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /bad\.toml: tls-port must be a whole number/);
  });
});
