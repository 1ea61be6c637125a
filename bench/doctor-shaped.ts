/**
 * `node --conditions=source --import tsx bench/doctor-shaped.ts [--window s]`: the network doctor's report
 * of a healthy loopback link and of a shaped one (the shaped-link test's delay-and-drop proxy: 50 ms +
 * 0–40 ms jitter on every server → device frame, 10 % of probes dropped), and the server's view after a
 * flapping device — the examples of docs/network.md. Loopback only; bounded; stops by itself.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceClient } from '@localpush/client';
import { run } from '@localpush/cli';
import { startServer } from '@localpush/server';
import { startShapingProxy } from '../packages/cli/test/helpers/shaping-proxy.js';

const { values } = parseArgs({ options: { window: { type: 'string', default: '10' } } });

async function doctor(argv: string[]): Promise<void> {
  const out: string[] = [];
  const code = await run(argv, {
    stdout: (t) => out.push(t),
    stderr: () => {},
    env: {},
    untilInterrupted: () => Promise.resolve(),
  });
  process.stdout.write(`$ localpush ${argv.join(' ')}\n${out.join('')}(exit ${code})\n\n`);
}

const dir = await mkdtemp(join(tmpdir(), 'lp-doctor-bench-'));
const server = await startServer({
  dataDir: dir,
  host: '127.0.0.1',
  tlsPort: 0,
  tcpPort: 0,
  wsPort: null,
  apiPort: 0,
  store: 'memory',
  logLevel: 'silent',
  flappingReconnects: 3,
});
try {
  const api = `http://127.0.0.1:${server.addresses.api.port}`;
  const add = async (id: string): Promise<string> => {
    const r = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.providerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id }),
    });
    return ((await r.json()) as { credential: string }).credential;
  };
  const credential = await add('bridge-1');
  const common = [
    '--device',
    'bridge-1',
    '--credential',
    credential,
    '--window',
    values.window,
    '--interval',
    '80',
  ];
  console.log('## healthy: TLS on loopback\n');
  await doctor([
    'doctor',
    ...common,
    '--url',
    `tls://127.0.0.1:${server.addresses.tls.port}`,
    '--pin',
    server.identity.spkiPin,
  ]);

  const proxy = await startShapingProxy(
    { port: server.addresses.tcp?.port ?? 0 },
    { delayMs: 50, jitterMs: 40, probeDropShare: 0.1, seed: 16 },
  );
  console.log('## shaped: 50 ms + 0–40 ms jitter, 10 % of probes dropped\n');
  await doctor(['doctor', ...common, '--url', `tcp://127.0.0.1:${proxy.port}`]);
  await proxy.close();

  console.log("## the server's view\n");
  const flappy = new DeviceClient({
    url: `tls://127.0.0.1:${server.addresses.tls.port}`,
    deviceId: 'cabin-12',
    credential: await add('cabin-12'),
    pin: server.identity.spkiPin,
    reportNetwork: () => ({ ssid: 'Deck 4', bssid: '02:00:00:00:04:01', signalDbm: -71 }),
  });
  flappy.start();
  await once(flappy, 'connected');
  for (let i = 0; i < 3; i += 1) {
    flappy.reconnect();
    await once(flappy, 'connected');
  }
  await doctor(['doctor', '--server', api, '--key', server.providerKey]);
  await flappy.stop();
} finally {
  await server.close({ drainTimeoutMs: 100 });
  await rm(dir, { recursive: true, force: true });
}
