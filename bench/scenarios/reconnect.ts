/**
 * Scenario c: the reconnect storm. N devices connected over TLS to a server with the durable store; the
 * server is restarted (SIGTERM, then a new process on the same data directory and ports) and every device
 * reconnects on its own. Measured: the time from the stop to the last device welcomed again, split into
 * the server's restart and the storm after it, and how many handshakes resumed a TLS session.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { measureCpu, type CpuShare } from '../lib/cpu.js';
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
  /** Of `restartMs`: from SIGTERM to the old process gone (goaway to every device, drain, exit). */
  stopMs: number;
  /** Of `restartMs`: from the old process gone to the new one listening (spawn, module loading, start-up). */
  startMs: number;
  /** From SIGTERM to the last device welcomed again. */
  allResumedMs: number;
  /** From the new process listening to the last device welcomed again: the storm itself. */
  stormMs: number;
  /** Devices connected to the new server when the wait ended (equals `devices` on a complete run). */
  resumedAfterRestart: number;
  /** Welcomes since the stop: more than `devices` when some welcomed connections were lost again. */
  welcomesDuringStorm: number;
  tlsSessionsResumed: number;
  /** CPU time of each bench process during the storm (from the new process listening to the last welcome). */
  stormCpu: CpuShare[];
  /** CPU milliseconds the whole machine spent during the storm: above the shares' sum is someone else's load. */
  stormMachineCpuMs: number | undefined;
}

/** Busy CPU milliseconds of the whole machine since boot (all of /proc/stat's first line but idle and iowait). */
async function machineBusyMs(): Promise<number | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = ticks.reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
    return busy * 10;
  } catch {
    return undefined;
  }
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
    let stoppedAt = Number.NaN;
    void server.child.exited.then(() => (stoppedAt = performance.now()));
    await server.restart();
    const restartMs = performance.now() - started;
    // The old process has exited (restart waits for it) and the new one takes a second to boot, so every
    // old connection is closed by now: `connected` counts sessions on the new server only.
    const progress = new Progress(`[c ${options.transport}] resumed`, options.devices);
    // When each tenth of the fleet was back, from the new process listening: shows whether the storm is
    // slow throughout (the server's handshake rate) or has a long tail (dropped SYNs, back-off).
    const cpu = await measureCpu([
      { role: 'server', pid: server.pid },
      ...fleet.pids.map((pid, w) => ({ role: `simulator ${w + 1}`, pid })),
      { role: 'bench', pid: process.pid },
    ]);
    const machineBefore = await machineBusyMs();
    const tenths: number[] = [];
    while (fleet.connected < options.devices && performance.now() - started < options.limitMs) {
      progress.update(fleet.connected);
      while (fleet.connected >= ((tenths.length + 1) * options.devices) / 10) {
        tenths.push(Math.round(performance.now() - started - restartMs));
      }
      await sleep(20);
    }
    const allResumedMs = performance.now() - started;
    const stormCpu = (await cpu.stop()).cpu;
    const machineAfter = await machineBusyMs();
    const stormMachineCpuMs =
      machineBefore !== undefined && machineAfter !== undefined ? machineAfter - machineBefore : undefined;
    progress.update(fleet.connected);
    progress.done();
    console.error(
      `[c ${options.transport}] restart ${Math.round(restartMs)} ms = stop ${Math.round(stoppedAt - started)} ms ` +
        `+ start ${Math.round(started + restartMs - stoppedAt)} ms; storm ${Math.round(allResumedMs - restartMs)} ms; ` +
        `TLS sessions resumed ${fleet.resumed - resumedBefore}; each tenth back at ${tenths.join(', ')} ms`,
    );
    console.error(
      `[c ${options.transport}] CPU during the storm: ` +
        stormCpu.map((c) => `${c.role} ${Math.round(c.cpuMs)} ms`).join(', ') +
        `; whole machine ${stormMachineCpuMs ?? '?'} ms of ${Math.round((allResumedMs - restartMs) * availableParallelism())} available`,
    );
    return {
      transport: options.transport,
      devices: options.devices,
      restartMs: Math.round(restartMs),
      stopMs: Math.round(stoppedAt - started),
      startMs: Math.round(started + restartMs - stoppedAt),
      allResumedMs: Math.round(allResumedMs),
      stormMs: Math.round(allResumedMs - restartMs),
      resumedAfterRestart: fleet.connected,
      welcomesDuringStorm: fleet.welcomes - before,
      tlsSessionsResumed: fleet.resumed - resumedBefore,
      stormCpu,
      stormMachineCpuMs,
    };
  } finally {
    await fleet?.close();
    await server.stop();
  }
}
