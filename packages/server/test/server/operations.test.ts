/**
 * What an operator meets before and around the CLI: the commented config file of every option (`config
 * init`) and the effective configuration with its sources (`config check`), every mistake reported at
 * once, start-up failures that name the option to change, request ids on the API's log lines, the
 * opt-in access log, and logs that are JSON off a terminal and readable on one.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import {
  ConfigError,
  DEFAULT_CONFIG,
  SERVER_OPTIONS,
  effectiveRows,
  layerFromFlags,
  layerFromToml,
  loadServerConfig,
  renderConfigTemplate,
  resolveLayers,
  writeConfigTemplate,
} from '../../src/config.js';
import { ServerErrorCode } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { startServer } from '../../src/server.js';
import { LOOPBACK_CONFIG } from '../helpers/loopback-server.js';
import { AUTH, setupApi } from '../http/helpers.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-operations-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The template with every commented-out key line made live (placeholders, `"<…>"`, left out). */
function uncommented(template: string): string {
  return template
    .split('\n')
    .filter((line) => /^# [a-z0-9-]+ = /.test(line) && !/= "<[^"]*>"$/.test(line))
    .map((line) => line.slice(2))
    .join('\n');
}

describe('config init: a commented file of every option with its default', () => {
  it('lists every option once, commented out, with its flag and variable', () => {
    const template = renderConfigTemplate();
    for (const option of Object.values(SERVER_OPTIONS)) {
      assert.match(template, new RegExp(`^# ${option.flag} = `, 'm'), option.flag);
      assert.ok(template.includes(`# --${option.flag}, LOCALPUSH_`), option.flag);
    }
    assert.deepEqual(layerFromToml(template, join(dir, 'x.toml')).values, {}, 'as written it sets nothing');
  });

  it('reads back, uncommented, as the defaults', () => {
    const file = join(process.cwd(), 'localpush.toml');
    const { config, sources } = resolveLayers([layerFromToml(uncommented(renderConfigTemplate()), file)]);
    assert.deepEqual(config, { ...DEFAULT_CONFIG, dataDir: join(process.cwd(), '.localpush') });
    assert.equal(sources.tlsPort, 'file');
  });

  it('refuses to replace a file without force (LP_CONFIG_EXISTS), and replaces it with force', async () => {
    const file = join(dir, 'serve.toml');
    await writeFile(file, 'tls-port = 1234\n');
    await assert.rejects(writeConfigTemplate(file, false), {
      code: ServerErrorCode.CONFIG_EXISTS,
      message: /already exists; nothing was written\. Pass --force/,
    });
    assert.equal(await readFile(file, 'utf8'), 'tls-port = 1234\n');
    await writeConfigTemplate(file, true);
    assert.equal(await readFile(file, 'utf8'), renderConfigTemplate());
  });
});

describe('config check: the effective configuration and where each value came from', () => {
  it('names the file key, the variable and the flag that set each value, and "default" for the rest', async () => {
    const file = join(dir, 'check.toml');
    await writeFile(file, 'api-port = 8000\ntls-port = 9000\n');
    const effective = await loadServerConfig({
      flags: layerFromFlags({ 'tls-port': '9100' }),
      env: { LOCALPUSH_HEARTBEAT_INTERVAL: '45s' },
      configFile: file,
    });
    const rows = new Map(effectiveRows(effective).map((r) => [r.fileKey, r]));
    assert.deepEqual(rows.get('api-port'), {
      key: 'apiPort',
      fileKey: 'api-port',
      value: '8000',
      from: `${file}: api-port`,
    });
    assert.equal(rows.get('tls-port')?.from, '--tls-port');
    assert.equal(rows.get('tls-port')?.value, '9100');
    assert.equal(rows.get('heartbeat-interval')?.from, 'LOCALPUSH_HEARTBEAT_INTERVAL');
    assert.equal(rows.get('heartbeat-interval')?.value, '45s');
    assert.equal(rows.get('store')?.from, 'default');
    assert.equal(rows.size, Object.keys(SERVER_OPTIONS).length);
  });

  it('reports every mistake of every layer at once', async () => {
    const file = join(dir, 'bad.toml');
    await writeFile(file, 'store = "mongo"\nmax-queue = 0\n');
    const error = await loadServerConfig({
      flags: () => layerFromFlags({ 'tls-port': '70000', 'log-level': 'loud' }),
      env: { LOCALPUSH_HEARTBEAT_INTERVAL: 'soon' },
      configFile: file,
    }).catch((e: unknown) => e);
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems.length, 5, error.message);
    for (const named of [
      'bad.toml: store',
      'bad.toml: max-queue',
      'LOCALPUSH_HEARTBEAT_INTERVAL',
      '--tls-port',
      '--log-level',
    ])
      assert.ok(error.message.includes(named), `${named} in ${error.message}`);
  });
});

describe('start-up failures name the option to change', () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  for (const [key, flag, what] of [
    ['apiPort', '--api-port', 'the HTTP API'],
    ['tlsPort', '--tls-port', 'devices over TLS'],
    ['wsPort', '--ws-port', 'devices over WebSocket'],
    ['tcpPort', '--tcp-port', 'devices over plain TCP'],
  ] as const) {
    it(`a taken ${flag}: LP_LISTEN_FAILED with the port, the flag, its variable and the fix`, async () => {
      const dataDir = await mkdtemp(join(dir, 'listen-'));
      await assert.rejects(startServer({ ...LOOPBACK_CONFIG, dataDir, [key]: port }), (error: Error) => {
        assert.equal((error as { code?: string }).code, ServerErrorCode.LISTEN_FAILED);
        assert.equal(
          error.message,
          `cannot listen for ${what} on 127.0.0.1:${port}: the port is taken (EADDRINUSE). Stop what is ` +
            `using it, or choose another port with ${flag} (LOCALPUSH_${flag.slice(2).toUpperCase().replace(/-/g, '_')}, ` +
            `or ${flag.slice(2)} in the config file)`,
        );
        return true;
      });
    });
  }
});

/** Log lines written to memory, parsed. */
function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('the HTTP API: request ids and the access log', () => {
  it("answers with the caller's X-Request-Id and logs it on the access line", async () => {
    const { logger, lines } = memoryLogger();
    const { request } = await setupApi({ api: { logger, logRequests: true } });
    const answer = await request('GET', '/v1/devices', undefined, { ...AUTH, 'x-request-id': 'job-42.a' });
    assert.equal(answer.headers['x-request-id'], 'job-42.a');
    const access = lines.find((l) => l.msg === 'request');
    assert.deepEqual(
      { reqId: access?.reqId, method: access?.method, path: access?.path, status: access?.status },
      { reqId: 'job-42.a', method: 'GET', path: '/v1/devices', status: 200 },
    );
  });

  it('makes its own id when none or an unusable one is given, and logs nothing per request by default', async () => {
    const { logger, lines } = memoryLogger();
    const { request } = await setupApi({ api: { logger } });
    const none = await request('GET', '/v1/devices');
    const forged = await request('GET', '/v1/devices', undefined, {
      ...AUTH,
      'x-request-id': 'x" level=50 msg="forged',
    });
    for (const answer of [none, forged])
      assert.match(String(answer.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.notEqual(none.headers['x-request-id'], forged.headers['x-request-id']);
    const unauthorized = await request('GET', '/v1/devices', undefined, {});
    assert.equal(unauthorized.statusCode, 401);
    assert.match(String(unauthorized.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(lines, []);
  });
});

describe('the logger', () => {
  const written = async (isTTY: boolean, format: 'auto' | 'json' | 'pretty'): Promise<string> => {
    const file = join(dir, `log-${String(isTTY)}-${format}.txt`);
    const fd = openSync(file, 'w');
    createLogger({ level: 'info', format }, { fd, isTTY }).info({ device: 'd1' }, 'device connected');
    closeSync(fd);
    return readFile(file, 'utf8');
  };

  it('writes JSON lines when the destination is not a terminal', async () => {
    const line = JSON.parse(await written(false, 'auto')) as Record<string, unknown>;
    assert.equal(line.msg, 'device connected');
    assert.equal(line.device, 'd1');
    assert.equal(line.level, 30);
  });

  it('writes a readable line on a terminal (and when asked), JSON when asked', async () => {
    for (const text of [await written(true, 'auto'), await written(false, 'pretty')]) {
      assert.throws(() => JSON.parse(text) as unknown);
      assert.match(text, /INFO.*device connected.*device.*d1/);
    }
    assert.equal((JSON.parse(await written(true, 'json')) as { msg: string }).msg, 'device connected');
  });
});
