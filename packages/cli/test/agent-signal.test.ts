/**
 * `localpush agent` as systemd runs it, in a process of its own: SIGTERM while a provider's start never
 * completes — and its stop would never complete either — still ends the agent, promptly and with status
 * 0, and the provider's socket with it. The provider is the client SDK's scriptable test provider in
 * its `hold-start` mode: its start dials the test's server and waits for a byte that never comes.
 *
 * The agent watches the real network, so the configuration is made to match the network this machine is
 * on (its Wi-Fi SSID or its wired link); a machine on neither skips the test and says so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { linuxProbe } from '@localpush/client';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'packages/cli/src/main.ts');
const PROVIDER = join(ROOT, 'packages/client/test/sdk/fixtures/scriptable-provider.ts');
const BUNDLE = 'com.acme.kiosk.push';

test('agent: SIGTERM during a start that never completes stops the agent and closes the provider socket', async (t) => {
  const network = process.platform === 'linux' ? await linuxProbe() : undefined;
  const match =
    network?.ssid !== undefined
      ? { matchSSIDs: [network.ssid], matchEthernet: false }
      : network?.ethernet === true
        ? { matchSSIDs: [], matchEthernet: true }
        : undefined;
  if (match === undefined) {
    t.skip('the agent watches the real network: this machine reports neither a Wi-Fi SSID nor a wired link');
    return;
  }

  const server = createServer();
  const connections: Socket[] = [];
  server.on('connection', (socket) => connections.push(socket.on('error', () => {})));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), 'localpush-agent-signal-'));
  t.after(async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const preferences = join(dir, 'preferences.json');
  await writeFile(
    preferences,
    JSON.stringify({
      version: 1,
      configurations: [
        {
          id: 'cfg-hold',
          providerBundleIdentifier: BUNDLE,
          ...match,
          matchPrivateLTENetworks: [],
          providerConfiguration: { behavior: 'hold-start', port, hangStop: true },
          localizedDescription: 'a start that never completes',
          isEnabled: true,
        },
      ],
      providers: { [BUNDLE]: { module: PROVIDER } },
    }),
  );

  const agent = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      MAIN,
      'agent',
      '--preferences',
      preferences,
      '--stop-timeout',
      '1',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  agent.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(agent, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => {
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  });

  // The provider is starting: it dialled our server and waits there.
  const [socket] = (await once(server, 'connection')) as [Socket];
  const closed = once(socket, 'close');
  agent.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.equal(signal, null, stderr);
  assert.equal(code, 0, stderr);
  await closed;
  assert.match(stderr, /provider did not stop within 1000 ms; terminating it/);
  assert.match(stderr, /agent stopped/);
});
