/**
 * A device behind a silent partition, timed: the real server (startServer, memory store, in this
 * process), one DeviceClient with its default options over TLS, and the loopback proxy of the partition
 * test between them (packages/server/test/helpers/partition-proxy.ts), switched to drop every byte both
 * ways while holding the sockets open. Per run:
 *
 * 1. connect, wait for a heartbeat, then wait a random part of one interval (so the partition falls at a
 *    random phase of the heartbeat cycle) and cut the link;
 * 2. submit `--pushes` messages at once (they go into the dead connection, or the queue);
 * 3. note when the client leaves `connected` (its own deadline) and when the server drops the device;
 * 4. keep the link down `--outage` seconds in all (the client keeps trying, into the black hole), heal it,
 *    and note when every message sent during the partition has reached the app.
 *
 *   node --conditions=source --import tsx bench/partition.ts [--interval 20000] [--grace 10000]
 *        [--runs 3] [--outage 45] [--pushes 10] [--connect-timeout 10000]
 *
 * Prints one line per run and the medians. Bounded: each run ends by itself within
 * outage + 2 × connect timeout + the largest back-off window + 10 s, or is reported as failed.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_BACKOFF,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DeviceClient,
  type ClientState,
} from '@localpush/client';
import { startServer } from '../packages/server/src/server.js';
import { addDevice } from '../packages/server/test/helpers/e2e.js';
import { PartitionProxy } from '../packages/server/test/helpers/partition-proxy.js';

const { values } = parseArgs({
  options: {
    interval: { type: 'string', default: '20000' },
    grace: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    outage: { type: 'string', default: '45' },
    pushes: { type: 'string', default: '10' },
    'connect-timeout': { type: 'string', default: String(DEFAULT_CONNECT_TIMEOUT_MS) },
  },
});
const intervalMs = Number(values.interval);
const graceMs = Number(values.grace);
const runs = Number(values.runs);
const outageMs = Number(values.outage) * 1000;
const pushes = Number(values.pushes);
const connectTimeoutMs = Number(values['connect-timeout']);

interface RunFigures {
  /** Where in the heartbeat cycle the partition fell: ms since the last heartbeat. */
  phaseMs: number;
  /** Partition → the client leaves `connected`. */
  clientDetectMs: number;
  /** Last thing heard → the client leaves `connected` (its deadline: interval + grace). */
  clientSilenceMs: number;
  /** Partition → the server no longer counts the device online. */
  serverDetectMs: number;
  /** The client's state when the link came back. */
  stateAtHeal: ClientState;
  /** Heal → every message sent during the partition is in the app. */
  restoreToDeliveredMs: number;
}

const since = (t: number): number => performance.now() - t;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(5);
  }
}

async function run(index: number): Promise<RunFigures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-bench-partition-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    store: 'memory',
    logLevel: 'silent',
    heartbeatIntervalMs: intervalMs,
    heartbeatGraceMs: graceMs,
  });
  const proxy = await PartitionProxy.start({ port: server.addresses.tls.port });
  const { credential } = await addDevice(server, `bench-${index}`);
  const received = new Set<string>();
  const client = new DeviceClient({
    url: `tls://127.0.0.1:${proxy.port}`,
    deviceId: `bench-${index}`,
    credential,
    pin: server.identity.spkiPin,
    connectTimeoutMs,
    onPush: (push) => void received.add(push.id),
  });
  let lastHeard = performance.now();
  client.on('heartbeat', () => (lastHeard = performance.now()));
  try {
    client.start();
    await once(client, 'connected');
    await once(client, 'heartbeat');
    await sleep(Math.random() * intervalMs);
    const phaseMs = since(lastHeard);
    const partitionedAt = performance.now();
    proxy.partition();
    let clientDetectedAt = 0;
    let silence = 0;
    client.on('state', (_state, previous) => {
      if (previous !== 'connected' || clientDetectedAt !== 0) return;
      clientDetectedAt = performance.now();
      silence = clientDetectedAt - lastHeard;
    });
    const ids: string[] = [];
    for (let i = 0; i < pushes; i++) {
      const outcome = await server.engine.submit({
        deviceId: `bench-${index}`,
        kind: 'message',
        payload: { i },
        priority: 10,
      });
      ids.push(outcome.id);
    }
    let serverDetectedAt = 0;
    const limit = intervalMs + graceMs + 10_000;
    await until(
      () => {
        if (serverDetectedAt === 0 && !server.gateway.isOnline(`bench-${index}`)) {
          serverDetectedAt = performance.now();
        }
        return clientDetectedAt !== 0 && serverDetectedAt !== 0;
      },
      limit,
      'partition detected by both sides',
    );
    await sleep(Math.max(0, outageMs - since(partitionedAt)));
    const stateAtHeal = client.state;
    const healedAt = performance.now();
    proxy.heal();
    const bound = 2 * connectTimeoutMs + DEFAULT_BACKOFF.maxMs + 10_000;
    await until(() => ids.every((id) => received.has(id)), bound, 'messages of the partition delivered');
    return {
      phaseMs,
      clientDetectMs: clientDetectedAt - partitionedAt,
      clientSilenceMs: silence,
      serverDetectMs: serverDetectedAt - partitionedAt,
      stateAtHeal,
      restoreToDeliveredMs: performance.now() - healedAt,
    };
  } finally {
    await client.stop();
    await proxy.close();
    await server.close({ drainTimeoutMs: 200 });
    await rm(dataDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const ms = (x: number): string => `${Math.round(x)}`;
console.log(
  `partition: heartbeat ${intervalMs} ms + grace ${graceMs} ms, TLS, connect timeout ${connectTimeoutMs} ms, ${pushes} pushes during a ${outageMs / 1000} s outage, ${runs} runs`,
);
console.log(
  'run | phase ms | client detects ms (silence) | server detects ms | state at heal | heal → all delivered ms',
);
const all: RunFigures[] = [];
for (let i = 1; i <= runs; i++) {
  const f = await run(i);
  all.push(f);
  console.log(
    `${i} | ${ms(f.phaseMs)} | ${ms(f.clientDetectMs)} (${ms(f.clientSilenceMs)}) | ${ms(f.serverDetectMs)} | ${f.stateAtHeal} | ${ms(f.restoreToDeliveredMs)}`,
  );
}
console.log(
  `median | ${ms(median(all.map((f) => f.phaseMs)))} | ${ms(median(all.map((f) => f.clientDetectMs)))} (${ms(median(all.map((f) => f.clientSilenceMs)))}) | ${ms(median(all.map((f) => f.serverDetectMs)))} | – | ${ms(median(all.map((f) => f.restoreToDeliveredMs)))}`,
);
