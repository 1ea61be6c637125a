/**
 * Scenario a: connect N devices and hold them. Measures the connection rate (first connect to last
 * welcome) and the server's resident memory per idle connection. Each transport gets a fresh server
 * process: memory a previous run's connections left behind would otherwise be counted against the next.
 */
import type { DeviceFleet, Transport } from '../lib/simulator.js';
import { makeFleet } from '../lib/workers.js';
import { enrolDevices, portOf, startBenchServer, type StoreKind } from '../lib/server.js';
import { Progress, sleep } from '../lib/stats.js';

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
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerConnectionBytes: number;
  failures: number;
}

export async function runConnect(options: ConnectOptions): Promise<ConnectResult[]> {
  const results: ConnectResult[] = [];
  for (const transport of options.transports) {
    const server = await startBenchServer(options.store, false, transport !== 'ws');
    let fleet: DeviceFleet | undefined;
    try {
      const enrolling = new Progress(`[a ${transport}] enrol`, options.devices);
      const specs = await enrolDevices(server, options.devices, (n) => enrolling.update(n));
      enrolling.done();
      // Let the enrolment's garbage be collected and the heap settle before the baseline.
      await sleep(1_000);
      const rssBefore = await server.rss();
      fleet = makeFleet(options.workers, transport, portOf(server, transport));
      await fleet.prepare();
      const connecting = new Progress(`[a ${transport}] connect`, options.devices);
      const started = performance.now();
      await fleet.connect(specs, (n) => connecting.update(n));
      const connectMs = performance.now() - started;
      connecting.done();
      await sleep(options.holdMs);
      const rssAfter = await server.rss();
      results.push({
        transport,
        devices: options.devices,
        connectMs: Math.round(connectMs),
        connectionsPerSec: Math.round((options.devices / connectMs) * 1000),
        rssBeforeBytes: rssBefore,
        rssAfterBytes: rssAfter,
        rssPerConnectionBytes: Math.round((rssAfter - rssBefore) / options.devices),
        failures: fleet.failures,
      });
    } finally {
      await fleet?.close();
      await server.stop();
    }
  }
  return results;
}
