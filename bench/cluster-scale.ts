/**
 * Issue 13's cluster measurement: 1, 2 and 3 localpush nodes on one Redis (its own redis-server, AOF
 * `appendfsync always`), beside one node on SQLite, with the same devices and pushes. Devices are spread
 * over the nodes round-robin (each node has its own fleet of simulated devices on its TLS or TCP port),
 * and pushes are posted to the nodes' APIs round-robin, so most pushes land on a node that does not hold
 * the device and cross the cluster relay — the case a cluster adds.
 *
 *   node --conditions=source --import tsx bench/cluster-scale.ts [--nodes 1,2,3] [--devices 10000]
 *     [--messages 20000] [--transport tcp|tls] [--batch 500] [--no-sqlite]
 *
 * Per configuration it prints: pushes/s until every push was at its device, request → device p50/p99,
 * server CPU per push summed over the nodes, redis-server CPU per push, Redis commands per push (from
 * INFO commandstats, the expiry sweep included), and the nodes' RSS per connected device. Figures are
 * for this machine only; on 2 cores, N nodes share the same two cores with Redis and the simulators.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { ServerConfig } from '../packages/server/src/config.js';
import { spawnServer, stopServer, type ServerChild } from '../packages/server/test/crash/harness.js';
import {
  redisSkipReason,
  startRedis,
  type RedisProcess,
} from '../packages/server/test/helpers/redis-server.js';
import { measureCpu, type CpuShare } from './lib/cpu.js';
import { freePort, readRss } from './lib/server.js';
import { epochNow, type DeviceFleet, type DeviceSpec } from './lib/simulator.js';
import { Progress, sleep, summarise, type LatencySummary } from './lib/stats.js';
import { makeFleet } from './lib/workers.js';

const HELP = `bench/cluster-scale.ts — 1..N localpush nodes on one Redis, beside one node on SQLite

  --nodes LIST      node counts to run on Redis (default 1,2,3)
  --devices N       simulated devices, spread over the nodes (default 10000)
  --messages M      pushes per configuration, at full speed (default 20000)
  --transport T     tcp or tls (default tcp)
  --batch B         messages per POST /v1/push/batch (default 500)
  --no-sqlite       skip the one-node SQLite run
  --help            this text`;

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1,2,3' },
    devices: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '20000' },
    transport: { type: 'string', default: 'tcp' },
    batch: { type: 'string', default: '500' },
    'no-sqlite': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

function positive(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`--${name}: expected a whole number from 1 to ${max}, got "${text}"`);
    process.exit(2);
  }
  return n;
}
function parseTransport(text: string): 'tcp' | 'tls' {
  if (text === 'tcp' || text === 'tls') return text;
  console.error(`--transport: expected tcp or tls, got "${text}"`);
  process.exit(2);
}
const transport = parseTransport(values.transport);
const nodeCounts = values.nodes.split(',').map((n) => positive('nodes', n, 6));
const deviceCount = positive('devices', values.devices, 15_000);
const total = positive('messages', values.messages, 1_000_000);
const batchSize = positive('batch', values.batch, 1000);

interface Node {
  child: ServerChild;
  apiPort: number;
  providerKey: string;
  devicePort: number;
}

interface Row {
  config: string;
  nodes: number;
  received: number;
  elapsedMs: number;
  perSec: number;
  latency: LatencySummary;
  serverUs: number;
  redisUs: number | undefined;
  redisCommandsPerPush: number | undefined;
  rssPerDeviceKiB: number;
  redisScriptsPerPush: number | undefined;
  redisTop: string | undefined;
  /** Redis used_memory added per registered device, and per message queued for an offline device. */
  redisBytesPerDevice: number | undefined;
  redisBytesPerQueued: number | undefined;
}

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

async function startNodes(count: number, store: 'redis' | 'sqlite', redis?: RedisProcess): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = await mkdtemp(join(tmpdir(), 'localpush-cluster-scale-'));
    const tcpPort = await freePort();
    const config: Partial<ServerConfig> = {
      dataDir,
      store,
      ...(redis !== undefined ? { redis: { url: redis.url }, redisPrefix: 'scale' } : {}),
      host: '127.0.0.1',
      tlsPort: 0,
      tcpPort,
      wsPort: null,
      apiHost: '127.0.0.1',
      apiPort: 0,
      logLevel: 'warn',
      maxQueuePerDevice: 100_000,
    };
    const child = await spawnServer(config);
    const cleanup = child.exited.then(() => rm(dataDir, { recursive: true, force: true }));
    void cleanup;
    nodes.push({
      child,
      apiPort: child.info.apiPort,
      providerKey: child.info.providerKey,
      devicePort: transport === 'tcp' ? tcpPort : child.info.tlsPort,
    });
  }
  return nodes;
}

async function api(node: Node, method: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${node.apiPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${node.providerKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

/** Registers every device through the first node (the store is shared), 16 requests at a time. */
async function enrol(node: Node): Promise<DeviceSpec[]> {
  const specs = new Array<DeviceSpec>(deviceCount);
  const progress = new Progress('enrol', deviceCount);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < deviceCount; i = next++) {
      const id = `scale-${i}`;
      const body = (await api(node, 'POST', '/v1/devices', { id })) as { credential: string };
      specs[i] = { id, credential: body.credential };
      progress.update(++done);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  progress.done();
  return specs;
}

/**
 * Calls counted by INFO commandstats: every command Redis ran (scripts, presence leases, pub/sub and the
 * expiry sweep included), and the scripts alone (EVALSHA/EVAL: one per atomic change of a device).
 */
interface CommandCounts {
  all: number;
  scripts: number;
  byName: Map<string, number>;
}

async function redisCommands(client: Redis): Promise<CommandCounts> {
  const info = await client.info('commandstats');
  const counts: CommandCounts = { all: 0, scripts: 0, byName: new Map() };
  for (const match of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    const name = match[1] ?? '?';
    const calls = Number(match[2]);
    counts.all += calls;
    counts.byName.set(name, calls);
    if (name === 'evalsha' || name === 'eval') counts.scripts += calls;
  }
  return counts;
}

/** The commands that ran most during the run, per push: where the round trips go. */
function topCommands(before: CommandCounts, after: CommandCounts, pushes: number): string {
  return [...after.byName]
    .map(([name, calls]) => [name, (calls - (before.byName.get(name) ?? 0)) / Math.max(1, pushes)] as const)
    .filter(([, perPush]) => perPush >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, perPush]) => `${name} ${perPush.toFixed(2)}`)
    .join(', ');
}

async function runConfig(label: string, nodes: Node[], redis: RedisProcess | undefined): Promise<Row> {
  const first = nodes[0];
  if (first === undefined) throw new Error('no node');
  const client = redis === undefined ? undefined : new Redis(redis.url, { lazyConnect: true });
  if (client !== undefined) await client.connect();
  const memoryEmpty = client === undefined ? 0 : await usedMemory(client);
  const specs = await enrol(first);
  const memoryEnrolled = client === undefined ? 0 : await usedMemory(client);
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const latencies: number[] = [];
  const onPush = (id: string, receivedAt: number): void => {
    const index = Number(id.slice(id.lastIndexOf('-') + 1));
    const sent = sentAt[index];
    if (sent === undefined || Number.isNaN(sent)) return; // a redelivery: the first arrival counts
    latencies.push(receivedAt - sent);
    sentAt[index] = Number.NaN;
  };
  // One fleet (one worker process) per node, with every node-th device.
  const fleets: DeviceFleet[] = nodes.map((node) => makeFleet(1, transport, node.devicePort, onPush));
  try {
    await Promise.all(fleets.map((fleet) => fleet.prepare()));
    const rssIdle = await Promise.all(nodes.map((n) => readRss(n.child.info.pid)));
    const connecting = new Progress(`${label} connect`, deviceCount);
    let welcomed = 0;
    await Promise.all(
      fleets.map((fleet, k) =>
        fleet.connect(
          specs.filter((_, i) => i % nodes.length === k),
          () => connecting.update(++welcomed),
        ),
      ),
    );
    connecting.done();
    await sleep(1_000); // let the presence leases and the first heartbeats settle
    const rss = await Promise.all(nodes.map((n) => readRss(n.child.info.pid)));
    const commandsBefore = client === undefined ? undefined : await redisCommands(client);
    const cpu = await measureCpu([
      ...nodes.map((n, k) => ({ role: `node ${k + 1}`, pid: n.child.info.pid })),
      ...(redis !== undefined ? [{ role: 'redis-server', pid: redis.pid }] : []),
    ]);
    const startedAt = Date.now();
    const progress = new Progress(`${label} delivered`, total);
    const ticker = setInterval(() => progress.update(latencies.length), 200);
    await sendAll(nodes, sentAt);
    const deadline = Date.now() + 60_000;
    while (latencies.length < total && Date.now() < deadline) await sleep(20);
    const elapsedMs = Date.now() - startedAt;
    clearInterval(ticker);
    progress.update(latencies.length);
    progress.done();
    const window = await cpu.stop();
    const commandsAfter = client === undefined ? undefined : await redisCommands(client);
    const received = latencies.length;
    const cpuOf = (match: (share: CpuShare) => boolean): number =>
      window.cpu.filter(match).reduce((sum, share) => sum + share.cpuMs, 0);
    // Redis memory per queued message: the devices go offline, and a batch of pushes waits for them.
    let perQueuedMessage: number | undefined;
    if (client !== undefined && nodes.length === 1) {
      await Promise.all(fleets.map((fleet) => fleet.close()));
      await sleep(500);
      const before = await usedMemory(client);
      await sendAll(nodes, new Float64Array(total), 'queued-');
      perQueuedMessage = (await usedMemory(client)) - before;
      perQueuedMessage /= total;
    }
    return {
      redisBytesPerDevice: client === undefined ? undefined : (memoryEnrolled - memoryEmpty) / deviceCount,
      redisBytesPerQueued: perQueuedMessage,
      config: label,
      nodes: nodes.length,
      received,
      elapsedMs,
      perSec: Math.round((received / elapsedMs) * 1000),
      latency: summarise(latencies),
      serverUs: (cpuOf((s) => s.role.startsWith('node')) * 1000) / Math.max(1, received),
      redisUs:
        redis === undefined
          ? undefined
          : (cpuOf((s) => s.role === 'redis-server') * 1000) / Math.max(1, received),
      // The INFO calls themselves are two of these; negligible against tens of thousands.
      redisCommandsPerPush:
        commandsAfter === undefined || commandsBefore === undefined
          ? undefined
          : (commandsAfter.all - commandsBefore.all) / Math.max(1, received),
      redisScriptsPerPush:
        commandsAfter === undefined || commandsBefore === undefined
          ? undefined
          : (commandsAfter.scripts - commandsBefore.scripts) / Math.max(1, received),
      redisTop:
        commandsAfter === undefined || commandsBefore === undefined
          ? undefined
          : topCommands(commandsBefore, commandsAfter, received),
      // What the connected devices added to the nodes' resident memory (GC not forced: an upper bound).
      rssPerDeviceKiB: (sum(rss) - sum(rssIdle)) / 1024 / deviceCount,
    };
  } finally {
    client?.disconnect();
    await Promise.all(fleets.map((fleet) => fleet.close()));
  }
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** Full speed: batches to the nodes round-robin, four requests in flight. */
async function sendAll(nodes: readonly Node[], sentAt: Float64Array, prefix = 'm-'): Promise<void> {
  let seed = 1;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const inFlight: Promise<unknown>[] = [];
  for (let sent = 0, turn = 0; sent < total; turn++) {
    const size = Math.min(batchSize, total - sent);
    const messages = Array.from({ length: size }, (_, k) => {
      const i = sent + k;
      sentAt[i] = epochNow();
      return {
        to: `scale-${Math.floor(random() * deviceCount)}`,
        id: `${prefix}${i}`,
        kind: 'message',
        payload: { n: i },
      };
    });
    sent += size;
    const node = nodes[turn % nodes.length];
    if (node === undefined) throw new Error('no node');
    inFlight.push(api(node, 'POST', '/v1/push/batch', { messages }));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

function table(rows: readonly Row[]): string {
  const fmt = (n: number | undefined, digits = 0): string =>
    n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits });
  const lines = [
    `| configuration | nodes | devices | pushes delivered | elapsed (ms) | pushes/s | request → device p50 / p99 (ms) | server CPU µs/push (all nodes) | redis-server CPU µs/push | Redis scripts / commands run (inside scripts too) per push | RSS per connected device, nodes summed (KiB) |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.config} | ${r.nodes} | ${fmt(deviceCount)} | ${fmt(r.received)} of ${fmt(total)} | ${fmt(r.elapsedMs)} | ${fmt(r.perSec)} | ${fmt(r.latency.p50, 1)} / ${fmt(r.latency.p99, 1)} | ${fmt(r.serverUs)} | ${fmt(r.redisUs)} | ${fmt(r.redisScriptsPerPush, 2)} / ${fmt(r.redisCommandsPerPush, 2)} | ${fmt(r.rssPerDeviceKiB, 1)} |`,
    );
  }
  const top = rows.filter((r) => r.redisTop !== undefined);
  if (top.length > 0)
    lines.push('', 'Redis commands run per push (inside scripts too), most frequent first:', '');
  for (const r of top) lines.push(`- ${r.config}: ${r.redisTop}`);
  for (const r of rows) {
    if (r.redisBytesPerDevice === undefined) continue;
    lines.push(
      `- ${r.config}: Redis used_memory ${fmt(r.redisBytesPerDevice)} bytes per registered device` +
        (r.redisBytesPerQueued === undefined
          ? ''
          : `, ${fmt(r.redisBytesPerQueued)} bytes per message queued for an offline device`),
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const skip = redisSkipReason();
  if (skip !== undefined) {
    console.log(skip);
    return;
  }
  const rows: Row[] = [];
  const configs: { label: string; store: 'redis' | 'sqlite'; nodes: number }[] = [
    ...(values['no-sqlite'] ? [] : [{ label: 'SQLite, one node', store: 'sqlite' as const, nodes: 1 }]),
    ...nodeCounts.map((n) => ({
      label: `Redis, ${n} node${n === 1 ? '' : 's'}`,
      store: 'redis' as const,
      nodes: n,
    })),
  ];
  for (const config of configs) {
    const redis = config.store === 'redis' ? await startRedis({ appendfsync: 'always' }) : undefined;
    let nodes: Node[] = [];
    try {
      nodes = await startNodes(config.nodes, config.store, redis);
      rows.push(await runConfig(config.label, nodes, redis));
    } finally {
      await Promise.all(nodes.map((n) => stopServer(n.child)));
      await redis?.stop();
    }
  }
  console.log(
    `\n${transport.toUpperCase()}, ${deviceCount} devices, ${total} pushes at full speed, batches of ${batchSize}; ` +
      `Redis with AOF appendfsync always; pushes posted to the nodes round-robin.\n`,
  );
  console.log(table(rows));
}

await main();
