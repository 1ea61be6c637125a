/**
 * Back-pressure, timed (issue 11, item 1): the real server (startServer, memory store, in this process)
 * and DeviceClients over loopback.
 *
 * 1. backlog: `--count` pushes of `--bytes` characters are queued for an offline device; a DeviceClient
 *    connects over each of `--transports` and the time from start() to the last push in the app is
 *    taken, with the LP_SLOW_CONSUMER drops the server counted meanwhile and the reconnects the client
 *    made. A run that has not finished after `--limit` seconds is reported with what arrived.
 * 2. paused reader: a healthy device gets `--rate` pushes/s for `--seconds` s (latency from submit to
 *    the app: p50/p99/max), once alone and once while another device, whose TLS socket stopped reading,
 *    has a backlog of 50 KB pushes; when that device was dropped, and how.
 *
 *   node --conditions=source --import tsx bench/backpressure.ts [--count 104] [--bytes 50000]
 *        [--transports tls,wss] [--runs 3] [--rate 50] [--seconds 5] [--limit 60]
 *
 * Prints one line per measurement and the medians. Bounded: every wait has its limit.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { DeviceClient, type ClientState } from '@localpush/client';
import { encodeMessage, frame, type JsonValue } from '@localpush/protocol';
import { startServer, type RunningServer } from '../packages/server/src/server.js';
import { addDevice } from '../packages/server/test/helpers/e2e.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '104' },
    bytes: { type: 'string', default: '50000' },
    transports: { type: 'string', default: 'tls,wss' },
    runs: { type: 'string', default: '3' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    limit: { type: 'string', default: '60' },
  },
});
const COUNT = Number(values.count);
const BYTES = Number(values.bytes);
const RUNS = Number(values.runs);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const LIMIT_MS = Number(values.limit) * 1000;
const TRANSPORTS = values.transports.split(',') as ('tls' | 'wss' | 'tcp')[];

async function withServer<T>(run: (server: RunningServer) => Promise<T>): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-bench-bp-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    tcpPort: 0,
    wsPort: 0,
    wsTls: true,
    apiPort: 0,
    store: 'memory',
    logLevel: 'silent',
    maxQueuePerDevice: 100_000,
  });
  try {
    return await run(server);
  } finally {
    await server.close({ drainTimeoutMs: 200 });
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function slowConsumerDrops(server: RunningServer): Promise<number> {
  const response = await server.api.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${server.providerKey}` },
  });
  const line = response.body
    .split('\n')
    .find((l) => l.startsWith('localpush_connections_closed_total{reason="LP_SLOW_CONSUMER"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

function urlOf(server: RunningServer, transport: 'tls' | 'wss' | 'tcp'): string {
  if (transport === 'tls') return `tls://127.0.0.1:${server.addresses.tls.port}`;
  if (transport === 'tcp') return `tcp://127.0.0.1:${server.addresses.tcp?.port ?? 0}`;
  return `wss://127.0.0.1:${server.addresses.ws?.port ?? 0}/v1/connect`;
}

function submit(server: RunningServer, deviceId: string, payload: JsonValue): Promise<unknown> {
  return server.engine.submit({ deviceId, kind: 'message', payload, priority: 10 });
}

interface BacklogFigure {
  ms: number;
  received: number;
  drops: number;
  reconnects: number;
}

async function backlogRun(transport: 'tls' | 'wss' | 'tcp'): Promise<BacklogFigure> {
  return withServer(async (server) => {
    const { credential } = await addDevice(server, 'backlog');
    const filler = 'x'.repeat(BYTES);
    await Promise.all(Array.from({ length: COUNT }, (_, n) => submit(server, 'backlog', { n, filler })));
    let received = 0;
    let reconnects = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const client = new DeviceClient({
      url: urlOf(server, transport),
      deviceId: 'backlog',
      credential,
      ...(transport === 'tcp' ? {} : { pin: server.identity.spkiPin }),
      ...(transport === 'wss' ? { webSocket: WebSocket } : {}),
      onPush: () => {
        received += 1;
        if (received === COUNT) done();
      },
    });
    client.on('state', (state: ClientState) => {
      if (state === 'connecting') reconnects += 1;
    });
    const start = performance.now();
    client.start();
    const limit = setTimeout(done, LIMIT_MS);
    await finished;
    clearTimeout(limit);
    const ms = performance.now() - start;
    await client.stop();
    return { ms, received, drops: await slowConsumerDrops(server), reconnects: reconnects - 1 };
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

interface LatencyFigure {
  p50: number;
  p99: number;
  max: number;
  pausedDroppedAfterMs: number | undefined;
  drops: number;
}

/** A healthy device's latencies at RATE/s, with or without a paused reader beside it. */
async function latencyRun(withPausedReader: boolean): Promise<LatencyFigure> {
  return withServer(async (server) => {
    const healthy = await addDevice(server, 'healthy');
    const paused = await addDevice(server, 'paused');
    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    const client = new DeviceClient({
      url: urlOf(server, 'tls'),
      deviceId: 'healthy',
      credential: healthy.credential,
      pin: server.identity.spkiPin,
      onPush: (push) => {
        const n = (push.payload as { n: number }).n;
        const at = sentAt.get(n);
        if (at !== undefined) latencies.push(performance.now() - at);
      },
    });
    client.start();
    await once(client, 'connected');
    let pausedDroppedAfterMs: number | undefined;
    let socket: tls.TLSSocket | undefined;
    if (withPausedReader) {
      socket = tls.connect({ host: '127.0.0.1', port: server.addresses.tls.port, rejectUnauthorized: false });
      socket.on('error', () => {});
      await once(socket, 'secureConnect');
      const hello = {
        type: 'hello',
        version: 1,
        deviceId: 'paused',
        credential: paused.credential,
        capabilities: [] as string[],
      } as const;
      socket.write(frame(encodeMessage(hello)));
      await once(socket, 'data'); // the welcome
      socket.pause();
      const pausedAt = performance.now();
      server.gateway.presence.subscribe({
        sessionOpened: () => {},
        sessionClosed: (session) => {
          if (session.deviceId === 'paused') pausedDroppedAfterMs ??= performance.now() - pausedAt;
        },
      });
      const filler = 'x'.repeat(50_000);
      for (let n = 0; n < 100; n++) void submit(server, 'paused', { n, filler });
    }
    const total = RATE * SECONDS;
    for (let n = 0; n < total; n++) {
      sentAt.set(n, performance.now());
      void submit(server, 'healthy', { n });
      await new Promise((resolve) => setTimeout(resolve, 1000 / RATE));
    }
    const deadline = performance.now() + 5_000;
    while (latencies.length < total && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The paused reader is dropped after the slow-consumer time (default 5 s): wait for it, bounded.
    const dropDeadline = performance.now() + 15_000;
    while (withPausedReader && pausedDroppedAfterMs === undefined && performance.now() < dropDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket?.destroy();
    await client.stop();
    const sorted = latencies.sort((a, b) => a - b);
    return {
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.at(-1) ?? NaN,
      pausedDroppedAfterMs,
      drops: await slowConsumerDrops(server),
    };
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const f = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(1));

console.log(`backlog: ${COUNT} × ${BYTES} B = ${((COUNT * BYTES) / 1048576).toFixed(2)} MiB, queued offline`);
for (const transport of TRANSPORTS) {
  const runs: BacklogFigure[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await backlogRun(transport);
    runs.push(run);
    console.log(
      `  ${transport} run ${i + 1}: ${f(run.ms)} ms, ${run.received}/${COUNT} in the app, ` +
        `LP_SLOW_CONSUMER drops ${run.drops}, reconnects ${run.reconnects}`,
    );
  }
  console.log(
    `  ${transport} median: ${f(median(runs.map((r) => r.ms)))} ms, ` +
      `${f((COUNT * BYTES) / 1048576 / (median(runs.map((r) => r.ms)) / 1000))} MiB/s, ` +
      `drops ${runs.map((r) => r.drops).join('/')}`,
  );
}
console.log(`healthy device at ${RATE}/s for ${SECONDS} s over TLS, latency submit → app (ms):`);
for (const paused of [false, true]) {
  const runs: LatencyFigure[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await latencyRun(paused));
  for (const [i, run] of runs.entries()) {
    console.log(
      `  ${paused ? 'beside a paused reader' : 'alone'} run ${i + 1}: p50 ${f(run.p50)} p99 ${f(run.p99)} ` +
        `max ${f(run.max)}` +
        (paused
          ? `; paused reader dropped after ${f(run.pausedDroppedAfterMs)} ms, slow-consumer drops ${run.drops}`
          : ''),
    );
  }
  console.log(
    `  ${paused ? 'beside a paused reader' : 'alone'} median: p50 ${f(median(runs.map((r) => r.p50)))} ` +
      `p99 ${f(median(runs.map((r) => r.p99)))}`,
  );
}
