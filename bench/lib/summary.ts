/**
 * The spread of repeated runs (`--repeat N`): every key figure of each run, then its median and its
 * range over the runs, so a single lucky or unlucky run cannot pass for the machine's figure.
 */
import type { Report } from './report.js';

/** The figures worth comparing between runs, by label, from one report. */
export function keyFigures(report: Report): Map<string, number> {
  const figures = new Map<string, number>();
  for (const c of [
    ...(report.connect ?? []),
    ...(report.connectMax === undefined ? [] : [report.connectMax]),
  ]) {
    const at = `${c.transport}, ${c.devices.toLocaleString('en-US')} devices`;
    figures.set(`a. connections/s (${at})`, c.connectionsPerSec);
    figures.set(`a. RSS per idle connection, KiB (${at})`, c.rssPerConnectionBytes / 1024);
  }
  for (const q of report.mqttConnect ?? [])
    figures.set(`a. Mosquitto connections/s (${q.transport})`, q.connectionsPerSec);
  const r = report.reconnect;
  if (r !== undefined) {
    figures.set('c. SIGTERM → all resumed, ms', r.allResumedMs);
    figures.set('c. storm after restart, ms', r.stormMs);
    figures.set('c. TLS sessions resumed', r.tlsSessionsResumed);
  }
  for (const d of report.delivery ?? []) {
    const mode = `${d.transport}, ${d.mode === 'full' ? 'full speed' : `${d.mode}/s`}`;
    figures.set(`b. acked/s (${d.store}, ${mode})`, d.throughputPerSec);
    figures.set(`b. p99 accepted → acked, ms (${d.store}, ${mode})`, d.latencyMs.p99);
    figures.set(`b. p99 sent → device, ms (${d.store}, ${mode})`, d.sendToDeviceMs.p99);
    const server = d.cpu.find((c) => c.role === 'server');
    if (server !== undefined && d.acked > 0) {
      figures.set(`b. server CPU per message, µs (${d.store}, ${mode})`, (server.cpuMs * 1000) / d.acked);
    }
  }
  for (const m of report.mqttDelivery ?? []) {
    const mode = `${m.transport}, ${m.client}, ${m.mode === 'full' ? 'full speed' : `${m.mode}/s`}`;
    figures.set(`b. Mosquitto received/s (${mode})`, m.throughputPerSec);
    figures.set(`b. Mosquitto send → device p99, ms (${mode})`, m.sendToDeviceMs.p99);
    const broker = m.cpu.find((c) => c.role === 'server');
    if (broker !== undefined && m.acked > 0)
      figures.set(`b. Mosquitto CPU per message, µs (${mode})`, (broker.cpuMs * 1000) / m.acked);
  }
  for (const f of report.floor ?? []) figures.set(`f. floor acked/s (${f.transport})`, f.throughputPerSec);
  return figures;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const show = (n: number): string =>
  Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: Math.abs(n) < 100 ? 1 : 0 });

/** A markdown table: one row per key figure, one column per run, then the median and the range. */
export function summaryMarkdown(reports: readonly Report[]): string {
  const perRun = reports.map(keyFigures);
  const labels = [...new Set(perRun.flatMap((f) => [...f.keys()]))];
  const lines = [
    `## Summary of ${reports.length} runs`,
    '',
    `| figure | ${reports.map((_, i) => `run ${i + 1}`).join(' | ')} | median | range |`,
    `| --- | ${reports.map(() => '---:').join(' | ')} | ---: | ---: |`,
  ];
  for (const label of labels) {
    const values = perRun.map((f) => f.get(label) ?? Number.NaN);
    const known = values.filter((v) => !Number.isNaN(v));
    const range = known.length === 0 ? '–' : `${show(Math.min(...known))}–${show(Math.max(...known))}`;
    lines.push(`| ${label} | ${values.map(show).join(' | ')} | ${show(median(known))} | ${range} |`);
  }
  lines.push('');
  return lines.join('\n');
}
