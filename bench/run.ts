/**
 * Entry of the load harness (issue 7): `npm run bench -- <scenario> [options]`. Starts the server in its
 * own process, drives it with the lean simulator from this one, and writes JSON + markdown to
 * bench/results/. Every run targets 127.0.0.1, is bounded in count and time, and stops by itself.
 */
import { parseArgs } from 'node:util';
import { writeReport, markdown, type Report } from './lib/report.js';
import type { StoreKind } from './lib/server.js';
import { TRANSPORTS, type Transport } from './lib/simulator.js';
import { machine } from './lib/stats.js';
import { summaryMarkdown } from './lib/summary.js';
import { targets } from './lib/targets.js';
import { runConnect } from './scenarios/connect.js';
import { runDelivery } from './scenarios/delivery.js';
import { runFloor } from './scenarios/floor.js';
import { runReconnect } from './scenarios/reconnect.js';
import { mosquittoBinary, startMosquitto, type MosquittoProcess } from './lib/mosquitto.js';
import type { MqttTransport } from './lib/simulator.js';
import { runMosquittoConnect, runMosquittoDelivery, runMosquittoMqttJs } from './scenarios/mosquitto.js';

const HELP = `npm run bench -- <scenario> [options]

Scenarios:
  connect   (a) connect N devices over each transport (TLS, TCP, wss, ws) and hold them:
            connections/s and server RSS per idle connection
  delivery  (b) M pushes to random connected devices through POST /v1/push/batch, at full
            speed and at fixed rates: acked/s and latency p50/p99/p99.9 from the message's
            'accepted' receipt to its 'acked' receipt (the device's ack reaching the server)
  reconnect (c) N TLS devices on the durable store; the server is restarted (SIGTERM, new process,
            same data and ports): time until every device is welcomed again, TLS sessions resumed
  stores    (d) delivery with the memory store and the durable (sqlite) store side by side
  cluster   delivery on the redis store (its own redis-server, AOF always) beside one node on
            sqlite and Mosquitto, with the redis-server's CPU counted per message (one node; 1, 2
            and 3 nodes on one Redis: bench/cluster-scale.ts, docs/cluster.md)
  floor     (f) the same devices and pushes against a bare Node TLS server (no product): the
            ceiling Node's own I/O puts on any server here, and CPU per message to compare
  all       the issue's target run: connect (10,000 devices per transport, then 15,000 TLS held),
            reconnect (10,000), stores (10,000 devices; 50,000 messages at full speed, then
            5,000/s), floor, and Mosquitto for a and b when it answers; ends with a table of
            every target, its figure and whether it is met (about ten minutes)

Results: bench/results/<scenario>-<time>.{json,md,svg}

Options (defaults of 'all' in brackets):
  --devices N      devices to connect (default 2000 [10000]; at most 15000, the open-files limit
                   is 20000)
  --messages M     messages of the full-speed delivery run (default 20000 [50000])
  --rate LIST      comma-separated rates in msgs/s, 0 = full speed (default 0,2000 [0,5000])
  --duration S     seconds of each fixed-rate run (default 5)
  --batch B        messages per POST /v1/push/batch (default 500, at most 1000)
  --store LIST     stores for delivery: memory, sqlite, redis (default memory)
  --transport T    transports for connect: tls, tcp, wss, ws (default tls,tcp,wss,ws); delivery
                   runs each tls/tcp one given (default tls; 'all' runs tcp and tls); reconnect and
                   floor use the first
  --hold S         seconds connections are held idle before RSS is read (default 3)
  --workers K      simulator worker processes (default 2, one per core; 0 = in the bench process)
  --seed X         seed of the random device choice (default 1)
  --repeat N       run the scenario N times (default 1) and end with the median and the range of
                   every key figure over the runs
  --skip-mqtt      do not run the same workload against Mosquitto (the bench starts its own
                   broker — the mosquitto binary, or $MOSQUITTO_BIN — on free loopback ports, plain
                   and TLS with the server's certificate: QoS 1, a topic per device, persistent
                   sessions; the lean simulator's MQTT devices, and mqtt.js clients at full speed)
  --help           this text

Each run's figures are one measurement; --repeat gives their spread.`;

/** Devices per run: the open-files limit is 20,000 per process, and the server holds one socket each. */
const MAX_DEVICES = 15_000;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    devices: { type: 'string' },
    messages: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '5' },
    batch: { type: 'string', default: '500' },
    store: { type: 'string', default: 'memory' },
    transport: { type: 'string', default: 'tls,tcp,wss,ws' },
    hold: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '1' },
    'skip-mqtt': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function int(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} must be an integer ${min}–${max}`);
  return n;
}

function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`--${name}: unknown "${item}"`);
  }
  return items as T[];
}

const scenario = positionals[0];
if (values.help || scenario === undefined) {
  console.log(HELP);
  process.exit(scenario === undefined && !values.help ? 1 : 0);
}
if (!['connect', 'delivery', 'reconnect', 'stores', 'cluster', 'floor', 'all'].includes(scenario)) {
  console.error(`unknown scenario "${scenario}"\n\n${HELP}`);
  process.exit(1);
}

// 'all' measures at the scale of the targets; the single scenarios default to a quick run.
const targetRun = scenario === 'all';
const devices = int('devices', values.devices ?? (targetRun ? '10000' : '2000'), 1, MAX_DEVICES);
const transports = list<Transport>('transport', values.transport, TRANSPORTS);
const rates = (values.rate ?? (targetRun ? '0,5000' : '0,2000'))
  .split(',')
  .map((r) => int('rate', r, 0, 1_000_000));
const stores: StoreKind[] =
  scenario === 'stores' || scenario === 'all'
    ? ['memory', 'sqlite']
    : scenario === 'cluster'
      ? ['sqlite', 'redis']
      : list<StoreKind>('store', values.store, ['memory', 'sqlite', 'redis']);
const options = {
  scenario,
  devices,
  messages: int('messages', values.messages ?? (targetRun ? '50000' : '20000'), 1, 10_000_000),
  rates,
  durationMs: int('duration', values.duration, 1, 600) * 1000,
  batch: int('batch', values.batch, 1, 1000),
  stores,
  transports,
  holdMs: int('hold', values.hold, 0, 600) * 1000,
  seed: int('seed', values.seed, 0, 2 ** 31),
  workers: int('workers', values.workers, 0, 16),
};

const mosquitto = values['skip-mqtt'] ? undefined : mosquittoBinary();
if (!values['skip-mqtt'] && mosquitto === undefined)
  console.error('no mosquitto binary (install mosquitto or set MOSQUITTO_BIN): Mosquitto rows skipped');

/** The MQTT transport that matches a localpush one (none for WebSocket). */
const mqttOf = (t: Transport): MqttTransport | undefined =>
  t === 'tls' ? 'mqtts' : t === 'tcp' ? 'mqtt' : undefined;

/** Delivery transports: each tls/tcp one given, else tls; the target run measures both. */
const deliveryTransports: Transport[] =
  values.transport !== 'tls,tcp,wss,ws'
    ? transports.filter((t) => t === 'tls' || t === 'tcp')
    : targetRun
      ? ['tcp', 'tls']
      : ['tls'];

/** A fresh broker for one phase: persistent sessions of a previous phase would stay in its memory. */
async function withBroker<T>(run: (broker: MosquittoProcess) => Promise<T>): Promise<T | undefined> {
  if (mosquitto === undefined) return undefined;
  const broker = await startMosquitto(mosquitto);
  try {
    return await run(broker);
  } finally {
    await broker.stop();
  }
}

/** One run of the scenario, every figure measured afresh (new server processes, new devices). */
async function runOnce(): Promise<Report> {
  const report: Report = { startedAt: new Date().toISOString(), machine: machine(), options };
  if (scenario === 'connect' || scenario === 'all') {
    report.connect = await runConnect({
      devices,
      transports,
      store: 'memory',
      holdMs: options.holdMs,
      workers: options.workers,
    });
    for (const t of transports) {
      const m = mqttOf(t);
      if (m === undefined) continue;
      const result = await withBroker((broker) => {
        report.mosquittoVersion = broker.version;
        return runMosquittoConnect(broker, m, devices, options.holdMs, options.workers);
      });
      if (result !== undefined) (report.mqttConnect ??= []).push(result);
    }
    // The concurrency target: as many TLS devices as the open-files limit leaves room for, held at once.
    if (targetRun && values.devices === undefined && transports.includes('tls')) {
      report.connectMax = (
        await runConnect({
          devices: MAX_DEVICES,
          transports: ['tls'],
          store: 'memory',
          holdMs: options.holdMs,
          workers: options.workers,
        })
      )[0];
    }
  }
  if (scenario === 'reconnect' || scenario === 'all') {
    report.reconnect = await runReconnect({
      devices,
      transport: transports[0] ?? 'tls',
      workers: options.workers,
      limitMs: 60_000,
    });
  }
  if (scenario === 'delivery' || scenario === 'stores' || scenario === 'cluster' || scenario === 'all') {
    for (const transport of deliveryTransports) {
      (report.delivery ??= []).push(...(await runDelivery({ ...options, transport })));
      const m = mqttOf(transport);
      if (m === undefined) continue;
      const lean = await withBroker((broker) => {
        report.mosquittoVersion = broker.version;
        return runMosquittoDelivery(broker, m, options);
      });
      if (lean !== undefined) (report.mqttDelivery ??= []).push(...lean);
      if (rates.includes(0)) {
        const js = await withBroker((broker) => runMosquittoMqttJs(broker, m, options));
        if (js !== undefined) (report.mqttDelivery ??= []).push(js);
      }
    }
  }
  if (scenario === 'floor' || scenario === 'all') {
    const floorTransports = scenario === 'all' ? deliveryTransports : [transports[0] ?? 'tls'];
    for (const transport of floorTransports) {
      const result = await runFloor({
        devices,
        messages: options.messages,
        batch: options.batch,
        transport,
        workers: options.workers,
      });
      (report.floor ??= []).push(result);
    }
  }
  if (targetRun) report.targets = targets(report);
  return report;
}

const repeat = int('repeat', values.repeat, 1, 20);
const reports: Report[] = [];
for (let run = 1; run <= repeat; run++) {
  if (repeat > 1) console.error(`── run ${run} of ${repeat}`);
  const report = await runOnce();
  reports.push(report);
  const name = `${scenario}-${report.startedAt.replace(/[:.]/g, '-')}`;
  const files = await writeReport(report, name);
  console.log(markdown(report));
  console.log(`written: ${files.join(', ')}`);
}
if (repeat > 1) console.log(summaryMarkdown(reports));
