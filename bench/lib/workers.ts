/**
 * The simulator spread over worker processes (bench/lib/fleet-worker.ts), one per core by default, so a
 * single bench process is not the bottleneck. Children run with `--conditions=source --import tsx`
 * whatever flags started the parent, so `npm run bench` works from source without a build.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './fleet-worker.js';
import { Fleet, type DeviceFleet, type DeviceSpec, type FleetTransport } from './simulator.js';

const ENTRY = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
/** The repository root: `--import tsx` is resolved from the working directory. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class WorkerFleet implements DeviceFleet {
  private readonly children: ChildProcess[] = [];
  failures = 0;
  lastError: string | undefined;
  private readonly stats: { welcomes: number; resumed: number; connected: number }[] = [];

  get pids(): number[] {
    return this.children.flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  get connected(): number {
    return this.stats.reduce((sum, s) => sum + s.connected, 0);
  }

  get welcomes(): number {
    return this.stats.reduce((sum, s) => sum + s.welcomes, 0);
  }

  get resumed(): number {
    return this.stats.reduce((sum, s) => sum + s.resumed, 0);
  }

  constructor(
    private readonly workers: number,
    private readonly transport: FleetTransport,
    private readonly port: number,
    private readonly onPush?: (id: string, receivedAt: number) => void,
    private readonly reconnect = false,
  ) {}

  private welcomed: number[] = [];
  private onWelcome: ((welcomed: number) => void) | undefined;
  private pending: { resolve: () => void; reject: (error: Error) => void }[] = [];

  /** Forks the workers and waits until each has loaded (tsx compiles on start-up: not connect time). */
  async prepare(): Promise<void> {
    this.welcomed = new Array<number>(this.workers).fill(0);
    await Promise.all(
      Array.from(
        { length: this.workers },
        (_, w) =>
          new Promise<void>((resolve, reject) => {
            const child = fork(ENTRY, [], {
              cwd: ROOT,
              execPath: process.execPath,
              execArgv: ['--conditions=source', '--import', 'tsx'],
              stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            });
            this.children.push(child);
            child.on('message', (message: FromWorker) => {
              if (message.type === 'ready') resolve();
              else this.handle(w, message);
            });
            child.once('exit', (code) => {
              const error = new Error(`worker ${w} exited (${code ?? 'signal'})`);
              reject(error);
              this.pending[w]?.reject(error);
            });
          }),
      ),
    );
  }

  private handle(w: number, message: FromWorker): void {
    if (message.type === 'welcomed') {
      this.welcomed[w] = message.count;
      this.onWelcome?.(this.welcomed.reduce((a, b) => a + b, 0));
    } else if (message.type === 'connected') this.pending[w]?.resolve();
    else if (message.type === 'failed') this.pending[w]?.reject(new Error(`worker ${w}: ${message.error}`));
    else if (message.type === 'pushes') {
      for (let i = 0; i < message.ids.length; i++) {
        this.onPush?.(message.ids[i] ?? '', message.at[i] ?? Number.NaN);
      }
    } else if (message.type === 'stats') {
      this.stats[w] = { welcomes: message.welcomes, resumed: message.resumed, connected: message.connected };
    } else if (message.type === 'closed') {
      this.failures += message.failures;
      if (message.lastError !== null) this.lastError = message.lastError;
    }
  }

  async connect(specs: readonly DeviceSpec[], onWelcome?: (welcomed: number) => void): Promise<void> {
    if (this.children.length === 0) await this.prepare();
    this.onWelcome = onWelcome;
    await Promise.all(
      this.children.map(
        (child, w) =>
          new Promise<void>((resolve, reject) => {
            this.pending[w] = { resolve, reject };
            const share = specs.filter((_, i) => i % this.workers === w);
            const start: ToWorker = {
              type: 'connect',
              transport: this.transport,
              port: this.port,
              specs: share,
              reconnect: this.reconnect,
            };
            child.send(start);
          }),
      ),
    );
  }

  /** Asks every worker to close its devices and waits for it to exit; a stuck one is killed after 10 s. */
  async close(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        if (child.connected) child.send({ type: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** In this process when `workers` is 0, else spread over that many worker processes. */
export function makeFleet(
  workers: number,
  transport: FleetTransport,
  port: number,
  onPush?: (id: string, receivedAt: number) => void,
  reconnect = false,
): DeviceFleet {
  if (workers === 0 && reconnect) return new Fleet({ transport, port, reconnect });
  if (workers === 0)
    return onPush === undefined ? new Fleet({ transport, port }) : new Fleet({ transport, port, onPush });
  return new WorkerFleet(workers, transport, port, onPush, reconnect);
}
