/** Results as JSON and a markdown table, written to bench/results/ (gitignored) and printed. */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ConnectResult } from '../scenarios/connect.js';
import type { DeliveryResult } from '../scenarios/delivery.js';
import type { FloorResult } from '../scenarios/floor.js';
import type { ReconnectResult } from '../scenarios/reconnect.js';
import type { MosquittoConnectResult, MosquittoDeliveryResult } from '../scenarios/mosquitto.js';
import { svgChart } from './chart.js';
import { serverUs } from './cpu.js';
import type { TargetRow } from './targets.js';
import type { LatencySummary, Machine } from './stats.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface Report {
  startedAt: string;
  machine: Machine;
  options: Record<string, unknown>;
  connect?: ConnectResult[];
  delivery?: DeliveryResult[];
  reconnect?: ReconnectResult;
  mqttConnect?: MosquittoConnectResult[];
  mqttDelivery?: MosquittoDeliveryResult[];
  /** The broker's version, when the run started one. */
  mosquittoVersion?: string;
  floor?: FloorResult[];
  /** The 15,000-device TLS hold of the target run. */
  connectMax?: ConnectResult;
  targets?: TargetRow[];
}

const ratio = (a: number, b: number): string => (b > 0 && a > 0 ? `${(a / b).toFixed(2)}×` : '–');

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (Number.isNaN(n) ? '–' : String(Math.round(n * 10) / 10));
const triple = (l: LatencySummary): string => `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.p999)}`;

export function markdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `# localpush bench, ${report.startedAt}`,
    '',
    `Node ${m.node}, ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB. Server in its own process; simulator in ${report.options['workers'] === 0 ? 'the bench process' : `${String(report.options['workers'])} worker processes`}; sender and receipt feed in the bench process.`,
    '',
  ];
  if (report.connect !== undefined) {
    lines.push(
      '## a. Connect and hold',
      '',
      'Memory is read after a full garbage collection in the server; heap is the V8 heap in use, external the memory outside it that V8 accounts for (Buffers, OpenSSL as Node reports it).',
      '',
      '| transport | devices | connect time (ms) | connections/s | server RSS before (MiB) | after (MiB) | RSS per connection (KiB) | of which heap / external (KiB) | failures |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of [...report.connect, ...(report.connectMax === undefined ? [] : [report.connectMax])]) {
      lines.push(
        `| ${r.transport} | ${int(r.devices)} | ${int(r.connectMs)} | ${int(r.connectionsPerSec)} | ` +
          `${(r.rssBeforeBytes / 1024 ** 2).toFixed(1)} | ${(r.rssAfterBytes / 1024 ** 2).toFixed(1)} | ` +
          `${kib(r.rssPerConnectionBytes)}${r.collected ? '' : ' (not collected)'} | ` +
          `${kib(r.heapPerConnectionBytes)} / ${kib(r.externalPerConnectionBytes)} | ${r.failures} |`,
      );
    }
    for (const q of report.mqttConnect ?? []) {
      const perConn = q.rssPerConnectionBytes === null ? '–' : kib(q.rssPerConnectionBytes);
      lines.push(
        `| Mosquitto ${q.transport} (lean MQTT devices) | ${int(q.devices)} | ${int(q.connectMs)} | ${int(q.connectionsPerSec)} | – | – | ${perConn} | – | – |`,
      );
    }
    if (report.mqttConnect !== undefined) {
      lines.push(
        '',
        'Ratios localpush / Mosquitto on the same transport (connections/s: higher is better; RSS per connection: lower is better):',
        '',
      );
      for (const r of report.connect) {
        const q = report.mqttConnect.find((m) => m.transport === (r.transport === 'tls' ? 'mqtts' : 'mqtt'));
        if (q === undefined || (r.transport !== 'tls' && r.transport !== 'tcp')) continue;
        const rss =
          q.rssPerConnectionBytes === null ? '–' : ratio(r.rssPerConnectionBytes, q.rssPerConnectionBytes);
        lines.push(
          `- ${r.transport} against ${q.transport}: connections/s ${ratio(r.connectionsPerSec, q.connectionsPerSec)}, RSS per connection ${rss}`,
        );
      }
    }
    lines.push('');
  }
  const c = report.reconnect;
  if (c !== undefined) {
    lines.push(
      '## c. Reconnect storm (sqlite store, server restarted with SIGTERM)',
      '',
      '| transport | devices | server restart (ms) | storm after restart (ms) | stop → all resumed (ms) | resumed | welcomes | TLS sessions resumed |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${c.transport} | ${int(c.devices)} | ${int(c.restartMs)} | ${int(c.stormMs)} | ${int(c.allResumedMs)} | ` +
        `${int(c.resumedAfterRestart)} | ${int(c.welcomesDuringStorm)} | ${int(c.tlsSessionsResumed)} |`,
      '',
    );
  }
  if (report.delivery !== undefined) lines.push(...deliveryMarkdown(report, report.delivery));
  if (report.floor !== undefined) lines.push(...floorMarkdown(report, report.floor));
  if (report.targets !== undefined) {
    lines.push(
      '## Targets (issues 14 and 7, this machine, this run)',
      '',
      '| target | localpush | Mosquitto | floor | met |',
      '| --- | --- | --- | --- | --- |',
      ...report.targets.map(
        (t) =>
          `| ${t.target} | ${t.figure} | ${t.mosquitto ?? '–'} | ${t.floor ?? '–'} | ${t.met === undefined ? 'not judged (run at a smaller scale, or not run)' : t.met ? 'yes' : '**no**'} |`,
      ),
      '',
    );
  }
  return lines.join('\n');
}

const offeredOf = (mode: string): string => (mode === 'full' ? 'full speed' : `${int(Number(mode))}/s`);
const mqttOf = (transport: string): string => (transport === 'tls' ? 'mqtts' : 'mqtt');

function deliveryMarkdown(report: Report, delivery: readonly DeliveryResult[]): string[] {
  const mq = report.mqttDelivery ?? [];
  const lines = [
    '## b. Delivery',
    '',
    'Server view: accepted → acked receipt (server clock, 1 ms resolution). Bench view: request sent → push at the device, the figure compared with Mosquitto (publish → subscriber).',
    '',
    '| store | transport | offered | devices | messages | acked | elapsed (ms) | acked/s | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | sent→device p50 / p99 / p99.9 (ms) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of delivery) {
    const l = r.latencyMs;
    lines.push(
      `| ${r.store}${r.feedLost ? '¹' : ''} | ${r.transport} | ${offeredOf(r.mode)} | ${int(r.devices)} | ${int(r.messages)} | ${int(r.acked)} | ${int(r.elapsedMs)} | ` +
        `${int(r.throughputPerSec)} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.p999)} | ${ms(l.max)} | ${triple(r.sendToDeviceMs)} |`,
    );
  }
  for (const r of mq) {
    lines.push(
      `| Mosquitto ${report.mosquittoVersion ?? ''} QoS 1, ${r.client} clients | ${r.transport} | ${offeredOf(r.mode)} | ${int(r.devices)} | ${int(r.messages)} | ${int(r.received)} | ${int(r.elapsedMs)} | ` +
        `${int(r.throughputPerSec)} | – | – | – | – | ${triple(r.sendToDeviceMs)} |`,
    );
  }
  if (mq.length > 0) {
    lines.push(
      '',
      'Ratios localpush / Mosquitto with the lean clients, same transport (acked/s and CPU per message: per second and per CPU; sent→device p99: lower is better):',
      '',
    );
    for (const r of delivery) {
      const q = mq.find(
        (m) => m.mode === r.mode && m.client === 'lean' && m.transport === mqttOf(r.transport),
      );
      if (q === undefined) continue;
      lines.push(
        `- ${r.store}, ${r.transport}, ${offeredOf(r.mode)}: throughput ${ratio(r.throughputPerSec, q.throughputPerSec)}, ` +
          `server CPU per message ${ratio(serverUs(r), serverUs(q))}, sent→device p99 ${ratio(r.sendToDeviceMs.p99, q.sendToDeviceMs.p99)}`,
      );
    }
  }
  const all: (CpuAccounted & { label: string })[] = [
    ...delivery.map((r) => ({ ...r, label: `${r.store} | ${r.transport} | ${offeredOf(r.mode)}` })),
    ...mq.map((r) => ({ ...r, label: `Mosquitto (${r.client}) | ${r.transport} | ${offeredOf(r.mode)}` })),
  ];
  const roles = cpuRoles(all);
  lines.push(
    '',
    'CPU per message, by process (from the first request until the devices had every message and the feed had settled what it could; µs of CPU per acked message, and the share of one core used over that window). For Mosquitto, "server" is the broker:',
    '',
    `| server | transport | offered | ${roles.join(' | ')} | all |`,
    `| --- | --- | --- | ${roles.map(() => '---:').join(' | ')} | ---: |`,
    ...all.map((r) => `| ${r.label} | ${cpuCells(r, roles)} |`),
  );
  const looped = delivery.filter((r) => r.loop !== undefined);
  if (looped.length > 0) {
    lines.push(
      '',
      "The server's event loop over each run: the delay a ready callback waited (monitorEventLoopDelay, 10 ms resolution) and the garbage collector's pauses (PerformanceObserver 'gc'):",
      '',
      '| store | transport | offered | loop delay p50 / p99 / max (ms) | GC pauses: count, total, longest (ms), by kind |',
      '| --- | --- | --- | ---: | --- |',
    );
    for (const r of looped) {
      const loop = r.loop;
      if (loop === undefined) continue;
      const gc = Object.entries(loop.gc)
        .map(([kind, g]) => `${kind} ${g.count}, ${ms(g.totalMs)}, ${ms(g.maxMs)}`)
        .join('; ');
      const d = loop.delayMs;
      lines.push(
        `| ${r.store} | ${r.transport} | ${offeredOf(r.mode)} | ${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.max)} | ${gc || 'none'} |`,
      );
    }
  }
  if (delivery.some((r) => r.feedLost)) {
    lines.push(
      '',
      '¹ The server dropped the receipt feed (its reader fell 4 MiB behind); the remaining receipt times were read from GET /v1/messages/:id.',
    );
  }
  lines.push('');
  return lines;
}

function floorMarkdown(report: Report, floors: readonly FloorResult[]): string[] {
  const roles = cpuRoles(floors);
  const lines = [
    '## f. Floor: the same devices against a bare Node server (framing, welcome, pushes, ack counting)',
    '',
    `| transport | devices | messages | acked | elapsed (ms) | acked/s | ${roles.join(' | ')} | all (CPU µs per message) |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ${roles.map(() => '---:').join(' | ')} | ---: |`,
    ...floors.map(
      (f) =>
        `| ${f.transport} | ${int(f.devices)} | ${int(f.messages)} | ${int(f.acked)} | ${int(f.elapsedMs)} | ${int(f.throughputPerSec)} | ${cpuCells(f, roles)} |`,
    ),
    '',
  ];
  for (const r of report.delivery?.filter((d) => d.mode === 'full') ?? []) {
    const f = floors.find((x) => x.transport === r.transport);
    if (f === undefined) continue;
    lines.push(
      `- ${r.store}, ${r.transport}, full speed: ${ratio(r.throughputPerSec, f.throughputPerSec)} the floor's acked/s; ` +
        `server CPU per message ${ms(serverUs(r))} µs against the floor's ${ms(serverUs(f))} µs`,
    );
  }
  lines.push('');
  return lines;
}

/** What a CPU accounting row needs of a run. */
type CpuAccounted = Pick<DeliveryResult, 'cpu' | 'cpuWindowMs' | 'acked'>;

/** The processes that appear in any run's CPU accounting, in their first order. */
function cpuRoles(results: readonly CpuAccounted[]): string[] {
  return [...new Set(results.flatMap((r) => r.cpu.map((c) => c.role)))];
}

/** `µs per message (share of a core)` for each role, then for all processes together. */
function cpuCells(r: CpuAccounted, roles: readonly string[]): string {
  const cell = (cpuMs: number): string =>
    r.acked === 0
      ? '–'
      : `${int((cpuMs * 1000) / r.acked)} µs (${Math.round((cpuMs / r.cpuWindowMs) * 100)} %)`;
  const cells = roles.map((role) => {
    const share = r.cpu.find((c) => c.role === role);
    return share === undefined ? '–' : cell(share.cpuMs);
  });
  const total = r.cpu.reduce((sum, c) => sum + c.cpuMs, 0);
  return `${cells.join(' | ')} | ${cell(total)}`;
}

/** Writes `<name>.json`, `<name>.md` and `<name>.svg`; returns their paths. */
export async function writeReport(report: Report, name: string): Promise<string[]> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const json = `${RESULTS_DIR}${name}.json`;
  const md = `${RESULTS_DIR}${name}.md`;
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  const svg = `${RESULTS_DIR}${name}.svg`;
  await writeFile(md, markdown(report));
  await writeFile(svg, svgChart(report));
  return [json, md, svg];
}
