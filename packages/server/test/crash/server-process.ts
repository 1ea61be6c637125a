/**
 * Child-process entry of the crash test: starts a real server (startServer, the same code `localpush
 * serve` runs) with the configuration given as JSON in argv[2], and prints where it listens, its pin and
 * its provider key as one JSON line on stdout. It runs until it is killed — the test's SIGKILL is the
 * point — or until its stdin closes, so that a test runner that dies itself never leaves a server behind.
 */
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { ServerConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { gcKindName } from './gc-kind.js';

/** The line this script prints once the server listens. */
export interface ServerProcessInfo {
  pid: number;
  tlsPort: number;
  apiPort: number;
  pin: string;
  providerKey: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Partial<ServerConfig>;
const server = await startServer(config);
const info: ServerProcessInfo = {
  pid: process.pid,
  tlsPort: server.addresses.tls.port,
  apiPort: server.addresses.api.port,
  pin: server.identity.spkiPin,
  providerKey: server.providerKey,
};
process.stdout.write(`${JSON.stringify(info)}\n`);

/** The line printed on SIGUSR2: memory after a full collection, when the child runs with --expose-gc. */
export interface ServerMemoryReport {
  memory: {
    gc: boolean;
    rss: number;
    heapUsed: number;
    heapTotal: number;
    external: number;
    arrayBuffers: number;
  };
}

// The bench's memory figures must not count garbage that simply was not collected yet: on SIGUSR2 the
// child collects (twice, so that objects freed by finalisers of the first pass go too) and prints its
// memory as one JSON line. SIGUSR1 is Node's inspector signal, hence USR2.
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    gc();
    gc();
  }
  const usage = process.memoryUsage();
  const report: ServerMemoryReport = {
    memory: {
      gc: typeof gc === 'function',
      rss: usage.rss,
      heapUsed: usage.heapUsed,
      heapTotal: usage.heapTotal,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
    },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
});

/**
 * The line printed when a line `loop` arrives on stdin: the event loop's delay and the garbage collector's
 * pauses since the previous request (or the start), then both start again. This is what a latency tail
 * is made of in a Node server: the time a ready callback waited for the loop.
 */
export interface ServerLoopReport {
  loop: {
    windowMs: number;
    /** monitorEventLoopDelay at 10 ms resolution, in milliseconds. */
    delayMs: { p50: number; p99: number; max: number; mean: number };
    /** Pauses by kind ('minor' scavenges, 'major' mark-compact, 'incremental', 'weakcb'). */
    gc: Record<string, { count: number; totalMs: number; maxMs: number }>;
  };
}

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let pauses: ServerLoopReport['loop']['gc'] = {};
let windowStart = performance.now();
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
    const kind = gcKindName(detail?.kind);
    const p = (pauses[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    p.count++;
    p.totalMs += entry.duration;
    p.maxMs = Math.max(p.maxMs, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

function loopReport(): ServerLoopReport {
  const ns = (n: number): number => Math.round(n / 1e4) / 100;
  const report: ServerLoopReport = {
    loop: {
      windowMs: Math.round(performance.now() - windowStart),
      delayMs: {
        p50: ns(delay.percentile(50)),
        p99: ns(delay.percentile(99)),
        max: ns(delay.max),
        mean: ns(delay.mean),
      },
      gc: pauses,
    },
  };
  delay.reset();
  pauses = {};
  windowStart = performance.now();
  return report;
}

let stdinText = '';
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  stdinText += chunk;
  for (let newline = stdinText.indexOf('\n'); newline >= 0; newline = stdinText.indexOf('\n')) {
    const command = stdinText.slice(0, newline).trim();
    stdinText = stdinText.slice(newline + 1);
    if (command === 'loop') process.stdout.write(`${JSON.stringify(loopReport())}\n`);
  }
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.close({ drainTimeoutMs: 200 }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
// SIGTERM is the test's clean-up path (the crash itself is SIGKILL, which cannot be caught).
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
