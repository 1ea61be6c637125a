/**
 * Scenario c: the reconnect storm. N devices connected over TLS to a server with the durable store; the
 * server is restarted (SIGTERM, then a new process on the same data directory and ports) and every device
 * reconnects on its own. Measured: the time from the stop to the last device welcomed again, split into
 * the server's restart and the storm after it, and how many handshakes resumed a TLS session.
 */
import { enrolDevices, portOf, startBenchServer } from '../lib/server.js';
import type { DeviceFleet, Transport } from '../lib/simulator.js';
import { Progress, sleep } from '../lib/stats.js';
import { makeFleet } from '../lib/workers.js';

export interface ReconnectOptions {
  devices: number;
  transport: Transport;
  workers: number;
  /** Give up this long after the stop. */
  limitMs: number;
}

export interface ReconnectResult {
  transport: Transport;
  devices: number;
  /** From SIGTERM to the new process listening. */
  restartMs: number;
  /** From SIGTERM to the last device welcomed again. */
  allResumedMs: number;
  /** From the new process listening to the last device welcomed again: the storm itself. */
  stormMs: number;
  /** Devices connected to the new server when the wait ended (equals `devices` on a complete run). */
  resumedAfterRestart: number;
  /** Welcomes since the stop: more than `devices` when some welcomed connections were lost again. */
  welcomesDuringStorm: number;
  tlsSessionsResumed: number;
}

export async function runReconnect(options: ReconnectOptions): Promise<ReconnectResult> {
  // The durable store: a memory-store server forgets its devices when it restarts.
  const server = await startBenchServer('sqlite', true, options.transport !== 'ws');
  let fleet: DeviceFleet | undefined;
  try {
    const enrolling = new Progress(`[c ${options.transport}] enrol`, options.devices);
    const specs = await enrolDevices(server, options.devices, (n) => enrolling.update(n));
    enrolling.done();
    const port = portOf(server, options.transport);
    fleet = makeFleet(options.workers, options.transport, port, undefined, true);
    await fleet.prepare();
    const connecting = new Progress(`[c ${options.transport}] connect`, options.devices);
    await fleet.connect(specs, (n) => connecting.update(n));
    connecting.done();
    // Worker statistics arrive every 20 ms; wait until every first welcome has been counted.
    const counted = performance.now();
    while (fleet.connected < options.devices) {
      if (performance.now() - counted > 10_000) throw new Error(`only ${fleet.connected} devices connected`);
      await sleep(20);
    }
    const before = fleet.welcomes;
    const resumedBefore = fleet.resumed;
    const started = performance.now();
    await server.restart();
    const restartMs = performance.now() - started;
    // The old process has exited (restart waits for it) and the new one takes a second to boot, so every
    // old connection is closed by now: `connected` counts sessions on the new server only.
    const progress = new Progress(`[c ${options.transport}] resumed`, options.devices);
    while (fleet.connected < options.devices && performance.now() - started < options.limitMs) {
      progress.update(fleet.connected);
      await sleep(20);
    }
    const allResumedMs = performance.now() - started;
    progress.update(fleet.connected);
    progress.done();
    return {
      transport: options.transport,
      devices: options.devices,
      restartMs: Math.round(restartMs),
      allResumedMs: Math.round(allResumedMs),
      stormMs: Math.round(allResumedMs - restartMs),
      resumedAfterRestart: fleet.connected,
      welcomesDuringStorm: fleet.welcomes - before,
      tlsSessionsResumed: fleet.resumed - resumedBefore,
    };
  } finally {
    await fleet?.close();
    await server.stop();
  }
}
