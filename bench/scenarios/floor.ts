/**
 * Scenario f, the floor: the same simulated devices and the same push/ack exchange against the least
 * server Node can run (bench/lib/floor-server.ts: framing, a welcome, pushes, ack counting — no
 * product). Its acked/s is the ceiling this machine's Node puts on any server fed by this simulator on
 * the same cores; delivery's figure divided by it is the share of that ceiling localpush reaches, and
 * the CPU per message of both says what the product itself costs.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { measureCpu, type CpuShare } from '../lib/cpu.js';
import type { FloorServerInfo } from '../lib/floor-server.js';
import type { DeviceFleet, Transport } from '../lib/simulator.js';
import { Progress, sleep } from '../lib/stats.js';
import { makeFleet } from '../lib/workers.js';

const ENTRY = fileURLToPath(new URL('../lib/floor-server.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface FloorOptions {
  devices: number;
  messages: number;
  batch: number;
  transport: Transport;
  workers: number;
}

export interface FloorResult {
  transport: Transport;
  devices: number;
  messages: number;
  acked: number;
  elapsedMs: number;
  throughputPerSec: number;
  cpu: CpuShare[];
  cpuWindowMs: number;
}

export async function runFloor(options: FloorOptions): Promise<FloorResult> {
  if (options.transport !== 'tls' && options.transport !== 'tcp') {
    throw new Error('the floor scenario speaks length-prefixed frames only: --transport tls or tcp');
  }
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ENTRY], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let fleet: DeviceFleet | undefined;
  try {
    const [line] = (await Promise.race([
      once(child.stdout.setEncoding('utf8'), 'data'),
      once(child, 'exit').then(() => {
        throw new Error('the floor server exited before it listened');
      }),
    ])) as [string];
    const info = JSON.parse(line.split('\n')[0] ?? '') as FloorServerInfo;
    const control = `http://127.0.0.1:${info.controlPort}`;
    const port = options.transport === 'tls' ? info.tlsPort : info.tcpPort;
    fleet = makeFleet(options.workers, options.transport, port);
    await fleet.prepare();
    const specs = Array.from({ length: options.devices }, (_, i) => ({ id: `floor-${i}`, credential: 'x' }));
    const connecting = new Progress(`[f ${options.transport}] connect`, options.devices);
    await fleet.connect(specs, (n) => connecting.update(n));
    connecting.done();
    const stats = async (): Promise<{ connected: number; acked: number }> =>
      (await (await fetch(`${control}/stats`, { signal: AbortSignal.timeout(10_000) })).json()) as {
        connected: number;
        acked: number;
      };
    const cpu = await measureCpu([
      { role: 'server', pid: child.pid ?? -1 },
      ...fleet.pids.map((pid, w) => ({ role: `simulator ${w + 1}`, pid })),
      { role: options.workers === 0 ? 'bench (sender, devices)' : 'bench (sender)', pid: process.pid },
    ]);
    const base = (await stats()).acked;
    const progress = new Progress(`[f ${options.transport}] acked`, options.messages);
    const started = performance.now();
    // As in delivery: batches, four requests in flight, all offered at once.
    const inFlight: Promise<unknown>[] = [];
    for (let sent = 0; sent < options.messages; sent += options.batch) {
      const count = Math.min(options.batch, options.messages - sent);
      inFlight.push(fetch(`${control}/push?count=${count}`, { method: 'POST' }).then((r) => r.text()));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const deadline = started + 30_000 + options.messages;
    let acked = 0;
    while (performance.now() < deadline) {
      acked = (await stats()).acked - base;
      progress.update(acked);
      if (acked >= options.messages) break;
      await sleep(10);
    }
    const elapsedMs = performance.now() - started;
    const shares = await cpu.stop();
    progress.done();
    return {
      transport: options.transport,
      devices: options.devices,
      messages: options.messages,
      acked,
      elapsedMs: Math.round(elapsedMs),
      throughputPerSec: Math.round((acked / elapsedMs) * 1000),
      cpu: shares.cpu,
      cpuWindowMs: shares.windowMs,
    };
  } finally {
    await fleet?.close();
    child.stdin.end();
    if (child.exitCode === null) await once(child, 'exit');
  }
}
