/**
 * Whole-system delivery benchmark: a real server (in this process) with N real DeviceClients over loopback
 * TLS, M messages submitted through the HTTP API's batch endpoint, timed until every device acknowledged
 * every message. Run once per store and print msgs/s — figures, never assertions.
 *
 *   node --import tsx bench/delivery.ts [--devices 100] [--messages 20000] [--batch 500] [--store memory,sqlite]
 *
 * Both the devices and the server share this process (and its two cores), so the figure is a floor for
 * what a dedicated server does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceClient } from '@localpush/client';
import { startServer, type RunningServer } from '../packages/server/src/server.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    messages: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '500' },
    store: { type: 'string', default: 'memory,sqlite' },
  },
});
const DEVICES = Number(values.devices);
const MESSAGES = Number(values.messages);
const BATCH = Number(values.batch);

async function enrol(server: RunningServer, count: number): Promise<{ id: string; credential: string }[]> {
  const devices: { id: string; credential: string }[] = [];
  for (let i = 0; i < count; i++) {
    const response = await server.api.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: { authorization: `Bearer ${server.providerKey}` },
      payload: { id: `bench-${i}` },
    });
    devices.push({ id: `bench-${i}`, credential: response.json<{ credential: string }>().credential });
  }
  return devices;
}

async function run(store: 'memory' | 'sqlite'): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-bench-'));
  const server = await startServer({
    dataDir,
    store,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    logLevel: 'silent',
    maxQueuePerDevice: 100_000,
  });
  const devices = await enrol(server, DEVICES);
  let received = 0;
  const clients = devices.map(
    (d) =>
      new DeviceClient({
        url: `tls://127.0.0.1:${server.addresses.tls.port}`,
        deviceId: d.id,
        credential: d.credential,
        pin: server.identity.spkiPin,
        onPush: () => {
          received++;
        },
      }),
  );
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('connected', () => resolve());
          c.start();
        }),
    ),
  );

  let acked = 0;
  let allAcked: () => void = () => {};
  const done = new Promise<void>((resolve) => (allAcked = resolve));
  const unsubscribe = server.engine.onReceipt((receipt) => {
    if (receipt.event === 'acked' && ++acked === MESSAGES) allAcked();
  });

  const api = `http://127.0.0.1:${server.addresses.api.port}/v1/push/batch`;
  const started = performance.now();
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  while (sent < MESSAGES) {
    const size = Math.min(BATCH, MESSAGES - sent);
    const messages = Array.from({ length: size }, (_, i) => ({
      to: `bench-${(sent + i) % DEVICES}`,
      kind: 'message',
      payload: { n: sent + i, text: 'benchmark message' },
    }));
    sent += size;
    inFlight.push(
      fetch(api, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.providerKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages }),
      }).then(async (r) => {
        if (!r.ok) throw new Error(`batch failed: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }),
    );
    // Keep a few batches in flight, as a busy application server would, without flooding the API.
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const acceptedMs = performance.now() - started;
  await done;
  const totalMs = performance.now() - started;
  unsubscribe();

  const rate = (MESSAGES / totalMs) * 1000;
  console.log(
    `${store.padEnd(6)}  ${MESSAGES} messages to ${DEVICES} TLS devices: accepted in ${acceptedMs.toFixed(0)} ms, ` +
      `all acknowledged in ${totalMs.toFixed(0)} ms → ${Math.round(rate).toLocaleString('en-US')} msgs/s ` +
      `(devices received ${received})`,
  );
  await Promise.all(clients.map((c) => c.stop()));
  await server.close({ drainTimeoutMs: 1000 });
  await rm(dataDir, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${DEVICES} devices, ${MESSAGES} messages, batches of ${BATCH}`);
for (const store of values.store.split(',')) {
  if (store !== 'memory' && store !== 'sqlite') throw new Error(`unknown store ${store}`);
  await run(store);
}
