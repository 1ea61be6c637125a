/**
 * The CLI as an operator meets it, as real processes: `config init` and `config check`; start-up
 * failures as one coded line naming the option (a stack only with --log-level debug); a data directory of
 * another user; listen stopping with exit 1 on a refused credential and on a pin mismatch; --pin and
 * every other usage mistake at once with exit 2; send's advice for a wrong key and its "queued" for an
 * offline device (exit 3); device remove --id; help for a command; JSON logs off a terminal, with a
 * request id on the access log.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const main = join(root, 'packages', 'cli', 'src', 'main.ts');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `localpush <args>` as its own process to its end. */
async function localpush(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string } = {},
): Promise<Ran> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main, ...args], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH, HOME: tmpdir(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A line of output that is a stack frame: there must be none unless asked for. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-cli-ops-'));
  await chmod(dir, 0o755);
});
after(() => rm(dir, { recursive: true, force: true }));

/** The first directory above `path` that other users cannot pass through, if any. */
function closedToOthers(path: string): string | undefined {
  for (let at = dirname(path); at !== dirname(at); at = dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return at;
  }
  return undefined;
}

describe('localpush config', () => {
  it('init writes every option commented out, refuses to overwrite (exit 1), replaces with --force', async () => {
    const file = join(dir, 'serve.toml');
    const first = await localpush(['config', 'init', file]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(await readFile(file, 'utf8'), /^# tls-port = 7701$/m);
    await writeFile(file, 'tls-port = 9999\n');
    const again = await localpush(['config', 'init', file]);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^localpush config: LP_CONFIG_EXISTS: .*serve\.toml already exists; nothing was written\. Pass --force to replace it\n$/,
    );
    assert.equal(await readFile(file, 'utf8'), 'tls-port = 9999\n');
    assert.equal((await localpush(['config', 'init', file, '--force'])).code, 0);
    assert.match(await readFile(file, 'utf8'), /^# tls-port = 7701$/m);
  });

  it('check prints the value in force and where it came from (exit 0), every mistake at once (exit 1)', async () => {
    const file = join(dir, 'check.toml');
    await writeFile(file, 'tls-port = 9000\napi-port = 8000\n');
    const good = await localpush(['config', 'check', '--config', file, '--api-port', '8100'], {
      env: { LOCALPUSH_HEARTBEAT_INTERVAL: '45s' },
    });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^configuration valid: .*check\.toml$/m);
    assert.match(good.stdout, new RegExp(`^tls-port +9000 +${file.replace(/[.]/g, '\\.')}: tls-port$`, 'm'));
    assert.match(good.stdout, /^api-port +8100 +--api-port$/m);
    assert.match(good.stdout, /^heartbeat-interval +45s +LOCALPUSH_HEARTBEAT_INTERVAL$/m);
    assert.match(good.stdout, /^store +sqlite +default$/m);

    await writeFile(file, 'tls-port = "seventy"\nstore = "mongo"\ntls_port = 1\n');
    const bad = await localpush(['config', 'check', '--config', file, '--max-queue', '0']);
    assert.equal(bad.code, 1);
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.length, 4, bad.stderr);
    for (const line of lines) assert.match(line, /^localpush config: LP_CONFIG_INVALID: /);
    assert.match(bad.stderr, /check\.toml: tls-port must be a whole number/);
    assert.match(bad.stderr, /check\.toml: store must be one of sqlite, memory, redis/);
    assert.match(bad.stderr, /unknown key "tls_port"/);
    assert.match(bad.stderr, /--max-queue must be a whole number/);
    assert.equal((await localpush(['config', 'check', '--bogus'])).code, 2);
  });
});

describe('start-up failures: one coded line naming the option, a stack only with --log-level debug', () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  const serveArgs = (dataDir: string, extra: string[]) => [
    'serve',
    '--data-dir',
    dataDir,
    '--host',
    '127.0.0.1',
    '--tls-port',
    '0',
    '--api-port',
    '0',
    '--ws-port',
    'off',
    '--log-level',
    'warn',
    ...extra,
  ];

  it('a taken API port: LP_LISTEN_FAILED naming --api-port, exit 1, no stack trace', async () => {
    const ran = await localpush(serveArgs(join(dir, 'api-port'), ['--api-port', String(port)]));
    assert.equal(ran.code, 1);
    assert.equal(
      ran.stderr,
      `localpush serve: LP_LISTEN_FAILED: cannot listen for the HTTP API on 127.0.0.1:${port}: the port is ` +
        'taken (EADDRINUSE). Stop what is using it, or choose another port with --api-port ' +
        '(LOCALPUSH_API_PORT, or api-port in the config file)\n',
    );
  });

  it('a taken TLS port names --tls-port; with --log-level debug the stack follows', async () => {
    const ran = await localpush(
      serveArgs(join(dir, 'tls-port'), ['--tls-port', String(port), '--log-level', 'debug']),
    );
    assert.equal(ran.code, 1);
    assert.match(
      ran.stderr,
      /^localpush serve: LP_LISTEN_FAILED: cannot listen for devices over TLS on .*--tls-port \(LOCALPUSH_TLS_PORT/m,
    );
    assert.match(ran.stderr, STACK_FRAME);
    assert.match(ran.stderr, /caused by: .*EADDRINUSE/);
  });

  it('a data directory of another user: LP_DATA_DIR_UNWRITABLE naming the file, the owner and the fix', async (t) => {
    const dataDir = join(dir, 'not-mine');
    await mkdir(dataDir, { mode: 0o755 });
    const asRoot = process.getuid?.() === 0;
    // As root, run the server as nobody on a directory root owns; as anyone else, take away the write bit.
    if (asRoot) {
      const shut = closedToOthers(process.execPath);
      if (shut !== undefined) {
        t.skip(`skipped: nobody cannot reach ${process.execPath} (${shut} is closed to other users)`);
        return;
      }
    }
    if (!asRoot) await chmod(dataDir, 0o555);
    else t.diagnostic('running the server as uid 65534 (nobody) on a directory root owns');
    const ran = await localpush(serveArgs(dataDir, []), asRoot ? { uid: 65534, gid: 65534 } : {});
    assert.equal(ran.code, 1, ran.stderr);
    assert.doesNotMatch(ran.stderr, STACK_FRAME);
    assert.match(
      ran.stderr,
      new RegExp(
        `^localpush serve: LP_DATA_DIR_UNWRITABLE: cannot open ${dataDir}/localpush\\.lock: permission denied \\(EACCES\\).*` +
          `(belongs to uid 0; this process runs as uid 65534|its mode forbids it).*chown -R .*--data-dir`,
      ),
    );
    assert.equal(ran.stderr.trim().split('\n').length, 1);
  });
});

/** A running `localpush serve` process and what its banner says. */
interface Served {
  child: ChildProcess;
  api: string;
  tls: string;
  key: string;
  pin: string;
  logs: () => string;
}

async function startServe(dataDir: string): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      main,
      'serve',
      '--data-dir',
      dataDir,
      '--host',
      '127.0.0.1',
    ].concat(['--tls-port', '0', '--api-port', '0', '--ws-port', 'off', '--access-log']),
    { cwd: root, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('Stop with Ctrl-C')) resolve();
    });
    child.once('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  const find = (pattern: RegExp): string => {
    const match = pattern.exec(stdout);
    assert.ok(match?.[1], `${String(pattern)} in ${stdout}`);
    return match[1];
  };
  return {
    child,
    api: find(/HTTP API +(http:\/\/\S+)/),
    tls: find(/devices, TLS +(tls:\/\/\S+)/),
    key: find(/provider key +(\S+)/),
    pin: find(/certificate pin +(\S+)/),
    logs: () => stderr,
  };
}

describe('against a running server', () => {
  let served: Served;
  let credential: string;
  const dataDir = (): string => join(dir, 'served');
  before(async () => {
    served = await startServe(dataDir());
    const added = await localpush([
      'device',
      'add',
      '--id',
      'phone',
      '--api',
      served.api,
      '--data-dir',
      dataDir(),
    ]);
    assert.equal(added.code, 0, added.stderr);
    credential = /credential +(\S+)/.exec(added.stdout)?.[1] ?? '';
  });
  after(async () => {
    served.child.kill('SIGTERM');
    await once(served.child, 'exit');
  });

  it('listen with a wrong credential says LP_AUTH_FAILED once, with the fix, and exits 1', async () => {
    const ran = await localpush([
      'listen',
      '--device',
      'phone',
      '--credential',
      'wrong',
      '--url',
      served.tls,
      '--pin',
      served.pin,
    ]);
    assert.equal(ran.code, 1);
    const refusals = ran.stderr.split('\n').filter((l) => l.includes('LP_AUTH_FAILED'));
    assert.deepEqual(refusals.length, 1, ran.stderr);
    assert.match(
      refusals[0] ?? '',
      /^localpush listen: LP_AUTH_FAILED: the server refused device "phone".*--credential/,
    );
    assert.doesNotMatch(ran.stderr, /stopped/);
  });

  it("listen with another server's pin says LP_CLIENT_PIN_MISMATCH once and exits 1, not retrying", async () => {
    const otherPin = Buffer.alloc(32, 7).toString('base64');
    const ran = await localpush([
      'listen',
      '--device',
      'phone',
      '--credential',
      credential,
      '--url',
      served.tls,
      '--pin',
      otherPin,
    ]);
    assert.equal(ran.code, 1);
    assert.match(
      ran.stderr,
      /^localpush listen: LP_CLIENT_PIN_MISMATCH: the server's public key does not match --pin/m,
    );
    assert.equal(ran.stderr.split('LP_CLIENT_PIN_MISMATCH').length, 2, ran.stderr);
  });

  it('send --key wrong gives advice for the command line, not for HTTP callers', async () => {
    const ran = await localpush(['send', '--to', 'phone', '--api', served.api, '--key', 'lpk_wrong', 'hi']);
    assert.equal(ran.code, 1);
    assert.match(
      ran.stderr,
      /^localpush send: LP_API_UNAUTHORIZED: the API at .* refused the provider key from --key\. .*--key or LOCALPUSH_PROVIDER_KEY/,
    );
    assert.doesNotMatch(ran.stderr, /Authorization: Bearer/);
  });

  it('send to an offline device says it is queued and exits 3', async () => {
    const ran = await localpush([
      'send',
      '--to',
      'phone',
      '--api',
      served.api,
      '--data-dir',
      dataDir(),
      '--timeout',
      '300ms',
      'hello',
    ]);
    assert.equal(ran.code, 3, ran.stderr);
    assert.match(
      ran.stdout,
      /^phone {2}queued: the device is offline; it gets the message when it connects/m,
    );
  });

  it('device remove takes --id like device add (and the id alone)', async () => {
    for (const id of ['spare-1', 'spare-2'])
      assert.equal(
        (await localpush(['device', 'add', '--id', id, '--api', served.api, '--data-dir', dataDir()])).code,
        0,
      );
    const byFlag = await localpush([
      'device',
      'remove',
      '--id',
      'spare-1',
      '--api',
      served.api,
      '--data-dir',
      dataDir(),
    ]);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.equal(byFlag.stdout, 'removed spare-1\n');
    const alone = await localpush([
      'device',
      'remove',
      'spare-2',
      '--api',
      served.api,
      '--data-dir',
      dataDir(),
    ]);
    assert.equal(alone.stdout, 'removed spare-2\n');
  });

  it("logs JSON lines off a terminal, and the access log carries the caller's request id", async () => {
    const response = await fetch(`${served.api}/v1/devices`, {
      headers: { authorization: `Bearer ${served.key}`, 'x-request-id': 'ops-test-1' },
    });
    assert.equal(response.headers.get('x-request-id'), 'ops-test-1');
    await response.text();
    // The access line is written once the answer is sent; wait for it on the server's stderr.
    while (!served.logs().includes('"reqId":"ops-test-1"')) await once(served.child.stderr!, 'data');
    const lines = served
      .logs()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.find((l) => l.reqId === 'ops-test-1');
    assert.equal(access?.msg, 'request');
    assert.equal(access?.status, 200);
    assert.equal(access?.path, '/v1/devices');
  });
});

describe('CLI consistency', () => {
  it('"help send" prints send\'s help; --help lists --version', async () => {
    const help = await localpush(['help', 'send']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: localpush send/);
    assert.match((await localpush(['--help'])).stdout, /-v, --version/);
  });

  it('usage errors: lower case, coded, every mistake at once, exit 2', async () => {
    const unknown = await localpush(['teleport']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^localpush: LP_CLI_USAGE: unknown command "teleport"/);
    const option = await localpush(['device', 'list', '--bogus']);
    assert.match(option.stderr, /^localpush device: LP_CLI_USAGE: unknown option "--bogus"$/m);
    const send = await localpush(['send', '--kind', 'fax', '--priority', '7', '--ttl', 'soon', '--bogus']);
    assert.equal(send.code, 2);
    assert.match(send.stderr, /unknown option "--bogus"/);
    const many = await localpush(['send', '--kind', 'fax', '--priority', '7', '--ttl', 'soon']);
    assert.equal(many.code, 2);
    for (const problem of [
      /at least one --to/,
      /exactly one message argument/,
      /--kind must be one of alert, call, message, push-to-talk, got "fax"/,
      /--priority must be one of 10, 5, 1/,
      /--ttl: "soon" is not a duration/,
    ])
      assert.match(many.stderr, problem);
  });

  it('a mistyped --pin is a usage error (exit 2), with no stack trace', async () => {
    const ran = await localpush(['listen', '--device', 'd', '--credential', 'c', '--pin', 'not-a-pin']);
    assert.equal(ran.code, 2);
    assert.match(ran.stderr, /^localpush listen: LP_CLI_USAGE: --pin must be the base64 SHA-256/);
    assert.doesNotMatch(ran.stderr, STACK_FRAME);
  });
});
