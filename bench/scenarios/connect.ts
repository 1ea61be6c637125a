/**
 * Scenario a: connect N devices and hold them. Measures the connection rate (first connect to last
 * welcome) and the server's resident memory per idle connection. Each transport gets a fresh server
 * process: memory a previous run's connections left behind would otherwise be counted against the next.
 * Both memory readings are taken right after a full garbage collection in the server (it runs with
 * --expose-gc and collects on SIGUSR2), so the figures count what connections hold, not garbage that
 * happened not to be collected yet.
 */
import type { ServerMemoryReport } from '../../packages/server/test/crash/server-process.js';
import type { DeviceFleet, Transport } from '../lib/simulator.js';
import { makeFleet } from '../lib/workers.js';
import { enrolDevices, portOf, startBenchServer, type BenchServer, type StoreKind } from '../lib/server.js';
import { Progress, sleep } from '../lib/stats.js';

type Memory = ServerMemoryReport['memory'];

/** Asks the server child to collect garbage and report its memory (see server-process.ts). */
async function settledMemory(server: BenchServer): Promise<Memory> {
  const stdout = server.child.process.stdout;
  const report = new Promise<Memory>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      stdout.off('data', onData);
      reject(new Error('the server did not report its memory within 10 s'));
    }, 10_000);
    const onData = (chunk: string | Buffer): void => {
      text += chunk.toString();
      for (const line of text.split('\n')) {
        if (!line.startsWith('{"memory"')) continue;
        clearTimeout(timer);
        stdout.off('data', onData);
        resolve((JSON.parse(line) as ServerMemoryReport).memory);
        return;
      }
    };
    stdout.on('data', onData);
  });
  process.kill(server.pid, 'SIGUSR2');
  return report;
}

/** The server children of this scenario collect garbage on request: --expose-gc, once. */
function exposeGcToServers(): void {
  const flags = process.env.LOCALPUSH_SERVER_NODE_OPTIONS ?? '';
  if (!flags.split(/\s+/).includes('--expose-gc')) {
    process.env.LOCALPUSH_SERVER_NODE_OPTIONS = `${flags} --expose-gc`.trim();
  }
}

export interface ConnectOptions {
  devices: number;
  transports: readonly Transport[];
  store: StoreKind;
  /** How long the connections are held idle before RSS is read, so the heap settles. */
  holdMs: number;
  /** Simulator worker processes; 0 runs the devices in the bench process. */
  workers: number;
}

export interface ConnectResult {
  transport: Transport;
  devices: number;
  connectMs: number;
  connectionsPerSec: number;
  /** Both after a full collection in the server (see the top of this file). */
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerConnectionBytes: number;
  /** V8 heap in use per connection: the JavaScript objects a connection holds. */
  heapPerConnectionBytes: number;
  /** Memory outside the V8 heap that V8 knows about (Buffers, OpenSSL's share reported by Node). */
  externalPerConnectionBytes: number;
  /** False when the server could not collect (no --expose-gc): the figures then include garbage. */
  collected: boolean;
  failures: number;
}

export async function runConnect(options: ConnectOptions): Promise<ConnectResult[]> {
  const results: ConnectResult[] = [];
  exposeGcToServers();
  for (const transport of options.transports) {
    const server = await startBenchServer(options.store, false, transport !== 'ws');
    let fleet: DeviceFleet | undefined;
    try {
      const enrolling = new Progress(`[a ${transport}] enrol`, options.devices);
      const specs = await enrolDevices(server, options.devices, (n) => enrolling.update(n));
      enrolling.done();
      // Let the enrolment's garbage be collected and the heap settle before the baseline.
      await sleep(1_000);
      const before = await settledMemory(server);
      fleet = makeFleet(options.workers, transport, portOf(server, transport));
      await fleet.prepare();
      const connecting = new Progress(`[a ${transport}] connect`, options.devices);
      const started = performance.now();
      await fleet.connect(specs, (n) => connecting.update(n));
      const connectMs = performance.now() - started;
      connecting.done();
      await sleep(options.holdMs);
      const after = await settledMemory(server);
      const perConnection = (delta: number): number => Math.round(delta / options.devices);
      const result: ConnectResult = {
        transport,
        devices: options.devices,
        connectMs: Math.round(connectMs),
        connectionsPerSec: Math.round((options.devices / connectMs) * 1000),
        rssBeforeBytes: before.rss,
        rssAfterBytes: after.rss,
        rssPerConnectionBytes: perConnection(after.rss - before.rss),
        heapPerConnectionBytes: perConnection(after.heapUsed - before.heapUsed),
        externalPerConnectionBytes: perConnection(after.external - before.external),
        collected: before.gc && after.gc,
        failures: fleet.failures,
      };
      results.push(result);
      const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
      // The markdown report shows RSS only; the heap split is what tells where a connection's bytes go.
      console.error(
        `[a ${transport}] per connection after GC: rss ${kib(result.rssPerConnectionBytes)} KiB, ` +
          `heap ${kib(result.heapPerConnectionBytes)} KiB, external ${kib(result.externalPerConnectionBytes)} KiB`,
      );
    } finally {
      await fleet?.close();
      await server.stop();
    }
  }
  return results;
}
