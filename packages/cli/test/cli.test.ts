/**
 * The CLI's contract with a person: --help everywhere (exit 0), clear errors with exit status 2 for bad
 * usage, and a named fix when the server cannot be reached. Commands run in-process with injected IO.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CliIo } from '../src/common.js';
import { run } from '../src/main.js';
import { serveConfigFromFlags } from '../src/serve.js';
import { parsePayload } from '../src/send.js';

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    untilInterrupted: () => Promise.resolve(),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

describe('localpush CLI', () => {
  for (const argv of [
    ['--help'],
    ['serve', '--help'],
    ['device', '--help'],
    ['device', 'add', '--help'],
    ['send', '--help'],
    ['listen', '--help'],
    ['agent', '--help'],
    ['doctor', '--help'],
  ]) {
    it(`prints usage for "${argv.join(' ')}" and exits 0`, async () => {
      const { code, stdout } = await cli(argv);
      assert.equal(code, 0);
      assert.match(stdout, /^Usage: localpush/);
    });
  }

  it('prints the version', async () => {
    assert.match((await cli(['--version'])).stdout, /^localpush \d+\.\d+\.\d+/);
  });

  const usageErrors: [string[], RegExp][] = [
    [[], /Usage: localpush <command>/],
    [['teleport'], /unknown command "teleport"/],
    [['serve', '--bogus'], /unknown option "--bogus"[\s\S]*localpush serve --help/],
    [['serve', '--store', 'mongo'], /--store must be one of sqlite, memory, redis/],
    [['serve', '--tls-port', '70000'], /--tls-port must be a whole number from 0 to 65535/],
    [['serve', '--heartbeat-interval', 'soon'], /--heartbeat-interval: "soon" is not a duration/],
    [['serve', '--max-frame', 'big'], /--max-frame: "big" is not a size/],
    [['serve', '--log-level', 'loud'], /--log-level must be one of/],
    [['serve', '--durability', 'eventual'], /--durability must be normal or full/],
    [['device', 'frobnicate'], /unknown subcommand "device frobnicate"/],
    [['device', 'remove'], /exactly one device id/],
    [['send', 'hello'], /at least one --to/],
    [['send', '--to', 'a'], /exactly one message argument/],
    [['send', '--to', 'a', '--kind', 'fax', 'x'], /--kind must be one of alert, call, message, push-to-talk/],
    [['send', '--to', 'a', '--priority', '7', 'x'], /--priority must be one of 10, 5, 1/],
    [['send', '--to', 'a', '--ttl', '1h', '--now-or-never', 'x'], /contradict/],
    [['listen'], /needs --device and --credential/],
    [['agent'], /needs --preferences/],
  ];
  for (const [argv, pattern] of usageErrors) {
    it(`rejects "${argv.join(' ')}" with exit status 2 and says why`, async () => {
      const { code, stdout, stderr } = await cli(argv);
      assert.equal(code, 2);
      assert.match(stderr + stdout, pattern);
    });
  }

  it('names the fix when the API is not reachable (exit 1)', async () => {
    // Port 9 (discard) on loopback: nothing listens there in a test environment, so the connection is refused.
    const { code, stderr } = await cli(['device', 'list', '--api', 'http://127.0.0.1:9', '--key', 'k']);
    assert.equal(code, 1);
    assert.match(stderr, /cannot reach the localpush API at http:\/\/127\.0\.0\.1:9 .*localpush serve/);
  });

  it('names where the provider key can come from when there is none', async () => {
    const { code, stderr } = await cli(['device', 'list', '--data-dir', '/nonexistent-localpush']);
    assert.equal(code, 1);
    assert.match(stderr, /no provider key: pass --key, set LOCALPUSH_PROVIDER_KEY/);
  });

  it('turns serve flags into configuration', () => {
    const io: CliIo = { stdout() {}, stderr() {}, env: {}, untilInterrupted: () => Promise.resolve() };
    const config = serveConfigFromFlags(
      [
        '--heartbeat-interval',
        '15s',
        '--heartbeat-grace',
        '2500ms',
        '--max-frame',
        '128KiB',
        '--no-ws',
        '--ws-plain',
        '--durability',
        'full',
      ],
      io,
    );
    assert.notEqual(config, 'help');
    if (config === 'help') return;
    assert.equal(config.heartbeatIntervalMs, 15_000);
    assert.equal(config.heartbeatGraceMs, 2_500);
    assert.equal(config.maxFrameBytes, 128 * 1024);
    assert.equal(config.wsPort, null);
    assert.equal(config.wsTls, false);
    assert.equal(config.durability, 'full');
  });

  it('sends JSON as JSON and anything else as {"text": …}', () => {
    assert.deepEqual(parsePayload('{"a":[1,2]}'), { a: [1, 2] });
    assert.deepEqual(parsePayload('42'), 42);
    assert.deepEqual(parsePayload('hello there'), { text: 'hello there' });
  });
});
