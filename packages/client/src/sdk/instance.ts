/**
 * Provider instances as the host sees them: one launched provider, in this thread or in a worker. The
 * host never touches a provider object directly, so the two isolation modes are interchangeable.
 */
import type { Clock } from '@localpush/protocol';
import { ProviderHostErrorCode } from './errors.js';
import { Worker } from 'node:worker_threads';
import type { JsonObject } from './json.js';
import type { SdkLog } from './log.js';
import type { AppPushConfiguration } from './configuration.js';
import {
  type AppPushProvider,
  type ProviderContext,
  type StopReason,
  StopReason as Reasons,
  providerAttach,
  providerDetach,
  providerUpdate,
} from './provider.js';
import { type ProviderRegistration, MODULE_SUFFIX, loadProviderClass } from './registry.js';
import type { WorkerData, WorkerToHost } from './worker-entry.js';

/**
 * How an instance ended without being asked to: an exception, the memory limit, an exit, or a start that
 * did not complete within the host's deadline (the host then ended it).
 */
export type CrashKind = 'exception' | 'out-of-memory' | 'exit' | 'start-timeout';

/** What an instance reports to the host. */
export interface InstanceEvents {
  incomingCall(userInfo: JsonObject): void;
  pushToTalk(userInfo: JsonObject): void;
  unmatchEthernet(): void;
  /** The instance died on its own; it is already released when this is called. */
  crashed(error: Error, kind: CrashKind): void;
}

/** Everything needed to launch one instance. */
export interface LaunchRequest {
  configuration: AppPushConfiguration;
  registration: ProviderRegistration;
  /** Directory that relative module paths resolve against. */
  baseDir?: string;
  clock: Clock;
  log: SdkLog;
  events: InstanceEvents;
  /** Worker mode: V8 old-generation limit in MiB. */
  memoryLimitMb: number;
  /** How long stop() may take before the instance is torn down anyway. */
  stopTimeoutMs: number;
}

/** One launched provider. */
export interface ProviderInstance {
  /**
   * Creates and starts the provider; rejects for a failed start, once the instance is released (for a
   * worker: once its thread has exited).
   */
  start(): Promise<void>;
  /**
   * Stops it — also while its start is still running — and resolves once it is released (for a worker:
   * once the thread has exited), at the latest after `stopTimeoutMs` and the teardown.
   */
  stop(reason: StopReason): Promise<void>;
  /**
   * Ends it without asking: a worker is terminated at once; an in-process provider, which nothing can
   * kill, is stopped (`providerFailed`) within the stop deadline and dropped.
   */
  terminate(): Promise<void>;
  /** Delivers the 60 s timer event. */
  timer(): void;
  /** Pushes a new providerConfiguration into the running provider. */
  update(configuration: JsonObject): void;
}

/** Runs the provider in the host's thread: no isolation, real objects (for tests and light hosts). */
export class InProcessInstance implements ProviderInstance {
  private provider: AppPushProvider | undefined;
  private dead = false;

  constructor(private readonly req: LaunchRequest) {}

  async start(): Promise<void> {
    const { registration, configuration, clock, log, events } = this.req;
    const provider =
      'create' in registration
        ? registration.create()
        : new (await loadProviderClass(registration, this.req.baseDir))();
    if (this.dead) return; // stopped while its module loaded: it never starts
    const context: ProviderContext = {
      providerConfiguration: configuration.providerConfiguration,
      configurationId: configuration.id,
      clock,
      log,
      reportIncomingCall: (u) => events.incomingCall(u),
      reportPushToTalkMessage: (u) => events.pushToTalk(u),
      unmatchEthernet: () => events.unmatchEthernet(),
    };
    provider[providerAttach](context);
    this.provider = provider;
    try {
      await provider.start();
    } catch (err) {
      await this.release(Reasons.providerFailed);
      throw err;
    }
  }

  stop(reason: StopReason): Promise<void> {
    return this.release(reason);
  }

  terminate(): Promise<void> {
    return this.release(Reasons.providerFailed);
  }

  timer(): void {
    this.guard(() => this.provider?.handleTimerEvent());
  }

  update(configuration: JsonObject): void {
    this.guard(() => this.provider?.[providerUpdate](configuration));
  }

  // An exception from a callback is this mode's "crash". Without a process boundary we cannot kill the
  // provider, so we stop it (so its sockets close — otherwise it would linger as a second instance) and
  // drop it before reporting.
  private guard(fn: () => void | Promise<void> | undefined): void {
    const fail = (err: unknown): void => {
      if (this.dead) return;
      void this.release(Reasons.providerFailed).then(() =>
        this.req.events.crashed(toError(err), 'exception'),
      );
    };
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  private async release(reason: StopReason): Promise<void> {
    const provider = this.provider;
    this.provider = undefined;
    this.dead = true;
    if (provider === undefined) return;
    const { clock, stopTimeoutMs, log, configuration } = this.req;
    try {
      if (!(await settlesWithin(() => provider.stop(reason), clock, stopTimeoutMs))) {
        // Without a thread of its own there is nothing to terminate: whatever it still holds stays open.
        log('error', `in-process provider did not stop within ${stopTimeoutMs} ms; dropped`, {
          configurationId: configuration.id,
          code: ProviderHostErrorCode.STOP_TIMEOUT,
        });
      }
    } catch (err) {
      log('warn', 'provider stop threw', { configurationId: configuration.id, err });
    } finally {
      provider[providerDetach]();
    }
  }
}

/**
 * Runs `work` and waits for it at most `ms` on `clock`: true when it settled in time (a rejection is
 * rethrown), false when the deadline came first (it is left running, unobserved).
 */
async function settlesWithin(work: () => unknown, clock: Clock, ms: number): Promise<boolean> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const deadline = new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      Promise.resolve()
        .then(work)
        .then(() => true as const),
      deadline,
    ]);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
}

/** The worker entry next to this file, in the same flavour (.ts under tsx, .js from dist). */
const WORKER_ENTRY = new URL(`./worker-entry${MODULE_SUFFIX}`, import.meta.url);

/**
 * How to start the worker. From dist, the .js entry directly. Under tsx (sources), Node 20 does not apply
 * the parent's `--import tsx` loader hooks inside workers, so a tiny eval'd bootstrap registers tsx's ESM
 * hooks in the worker first and then imports the .ts entry (URLs resolved here, not from the cwd).
 */
function workerScript(): { script: string | URL; eval: boolean } {
  if (MODULE_SUFFIX !== '.ts') return { script: WORKER_ENTRY, eval: false };
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(WORKER_ENTRY.href);
  return {
    script: `import(${api}).then((m) => { m.register(); return import(${entry}); })`,
    eval: true,
  };
}

/** Runs the provider in its own worker thread with a V8 heap limit, like an iOS app extension process. */
export class WorkerInstance implements ProviderInstance {
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;
  private stopping = false;
  private lastError: Error | undefined;
  /** Why the start failed, as the worker reported it; the start rejects with it once the thread exited. */
  private startError: Error | undefined;
  private onStopped: (() => void) | undefined;

  constructor(private readonly req: LaunchRequest) {}

  start(): Promise<void> {
    const { registration, configuration, events, log } = this.req;
    if ('create' in registration) {
      return Promise.reject(new Error('a factory registration can only run in-process; register a module'));
    }
    const data: WorkerData = { registration, configuration, baseDir: this.req.baseDir };
    const { script, eval: isEval } = workerScript();
    const worker = new Worker(script, {
      eval: isEval,
      workerData: data,
      // Not the parent's flags: `--test` and friends are rejected in workers.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.req.memoryLimitMb },
      name: `provider ${configuration.providerBundleIdentifier}`,
    });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (msg: WorkerToHost) => {
        switch (msg.type) {
          case 'started':
            started = true;
            resolve();
            break;
          case 'startFailed':
            // Its exit is the end of a failed start, not a crash; the start rejects once it has exited.
            this.stopping = true;
            this.startError = Object.assign(new Error(msg.message), { code: msg.code });
            void worker.terminate();
            break;
          case 'incomingCall':
            events.incomingCall(msg.userInfo);
            break;
          case 'pushToTalk':
            events.pushToTalk(msg.userInfo);
            break;
          case 'unmatchEthernet':
            events.unmatchEthernet();
            break;
          case 'log':
            log(msg.level, msg.message, { ...msg.fields, configurationId: configuration.id });
            break;
          case 'stopped':
            this.onStopped?.();
            break;
        }
      });
      worker.on('error', (err) => {
        this.lastError = err;
      });
      this.exited = new Promise<void>((done) => {
        worker.once('exit', (code) => {
          this.worker = undefined;
          done();
          if (!started) {
            // Also when stopped or terminated during the start: the host no longer waits for this answer.
            reject(
              this.startError ?? this.lastError ?? new Error(`provider worker exited with code ${code}`),
            );
            return;
          }
          if (this.stopping) return;
          const err = this.lastError ?? new Error(`provider worker exited with code ${code}`);
          const oom = (err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
          events.crashed(err, oom ? 'out-of-memory' : this.lastError === undefined ? 'exit' : 'exception');
        });
      });
    });
  }

  async stop(reason: StopReason): Promise<void> {
    const worker = this.worker;
    this.stopping = true;
    if (worker === undefined) {
      await this.exited;
      return;
    }
    // Ask the provider to stop; terminate the thread when it confirms or the timeout runs out. Terminating
    // always follows, so nothing of this instance can outlive stop().
    await new Promise<void>((resolve) => {
      const timeout = this.req.clock.setTimeout(() => {
        this.req.log('warn', `provider did not stop within ${this.req.stopTimeoutMs} ms; terminating it`, {
          configurationId: this.req.configuration.id,
          code: ProviderHostErrorCode.STOP_TIMEOUT,
        });
        resolve();
      }, this.req.stopTimeoutMs);
      this.onStopped = () => {
        this.req.clock.clearTimeout(timeout);
        resolve();
      };
      void this.exited?.then(() => {
        this.req.clock.clearTimeout(timeout);
        resolve();
      });
      worker.postMessage({ type: 'stop', reason });
    });
    await worker.terminate();
    await this.exited;
  }

  async terminate(): Promise<void> {
    this.stopping = true;
    await this.worker?.terminate();
    await this.exited;
  }

  timer(): void {
    this.worker?.postMessage({ type: 'timer' });
  }

  update(configuration: JsonObject): void {
    this.worker?.postMessage({ type: 'config', configuration });
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
