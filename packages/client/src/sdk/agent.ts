/**
 * runAgent: the `localpush agent` command's engine. It runs a ProviderHost over a preferences file, with
 * the system network monitor, and picks up edits of the file (made by `localpush` commands or by hand).
 */
import { dirname, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { type Clock, type TimerHandle, systemClock } from '@localpush/protocol';
import { FilePreferencesStore } from './preferences.js';
import { type NetworkMonitor, createSystemNetworkMonitor } from './network.js';
import { type Isolation, ProviderHost, ProviderHostEvent } from './host.js';
import type { SdkLog } from './log.js';
import { StopReason, stopReasonName } from './provider.js';
import type { ProviderRegistry } from './registry.js';

/** Options of {@link runAgent}. */
export interface AgentOptions {
  /** The preferences JSON file (created on the first save if missing). */
  preferencesPath: string;
  clock?: Clock;
  /** Default: the polling monitor of this platform. */
  monitor?: NetworkMonitor;
  log: SdkLog;
  /** Default `worker`. */
  isolation?: Isolation;
  registry?: ProviderRegistry;
  memoryLimitMb?: number;
  /** How long a provider's start may take before it is ended like a crash (default 30 s). */
  startTimeoutMs?: number;
  /** How long a provider's stop may take before its worker is terminated (default 10 s). */
  stopTimeoutMs?: number;
  /** How often the file is checked for edits by other processes; default 5 s. */
  reloadIntervalMs?: number;
}

/** A running agent. */
export interface Agent {
  host: ProviderHost;
  /**
   * Stops every provider (reason `none` unless given) and the file watch. Bounded, however the providers
   * behave: a start in progress is cut short, and a stop that does not complete within the stop timeout
   * ends with the worker terminated.
   */
  stop(reason?: StopReason): Promise<void>;
}

/** Starts the host over the preferences file and returns once the matching providers were launched. */
export async function runAgent(options: AgentOptions): Promise<Agent> {
  const path = resolve(options.preferencesPath);
  const clock = options.clock ?? systemClock;
  const log = options.log;
  const store = new FilePreferencesStore(path);
  const monitor = options.monitor ?? createSystemNetworkMonitor({ clock, log });
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    log,
    baseDir: dirname(path),
    ...(options.isolation === undefined ? {} : { isolation: options.isolation }),
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.memoryLimitMb === undefined ? {} : { memoryLimitMb: options.memoryLimitMb }),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
  });
  // There is no app in the agent's process to take incoming calls, so they are logged; embedders that
  // want them listen on agent.host.
  host.on(ProviderHostEvent.incomingCall, (id: string, userInfo: unknown) =>
    log('info', 'incoming call', { configurationId: id, userInfo }),
  );
  host.on(ProviderHostEvent.network, (state: unknown) => log('info', 'network changed', { state }));
  host.on(ProviderHostEvent.stopped, (id: string, reason: StopReason) =>
    log('info', 'provider stopped', { configurationId: id, reason: stopReasonName(reason) }),
  );

  // stat polling rather than fs.watch: it works the same on every OS and survives the atomic rename
  // (which replaces the inode fs.watch would be watching). The inode is part of the key because every
  // atomic save creates a new one, even when two saves land within one mtime tick.
  const mtime = async (): Promise<string> => {
    const st = await stat(path).catch(() => undefined);
    return st === undefined ? 'missing' : `${st.ino}:${st.mtimeMs}:${st.size}`;
  };
  let last = await mtime();
  let timer: TimerHandle | undefined;
  let running = true;
  const poll = async (): Promise<void> => {
    const now = await mtime();
    if (now !== last) {
      last = now;
      await host.reload().catch((err: unknown) => log('error', 'cannot reload preferences', { err }));
    }
    if (running) timer = clock.setTimeout(() => void poll(), options.reloadIntervalMs ?? 5000);
  };

  await host.start();
  timer = clock.setTimeout(() => void poll(), options.reloadIntervalMs ?? 5000);
  log('info', 'agent started', { preferencesPath: path });
  return {
    host,
    async stop(reason = StopReason.none) {
      running = false;
      if (timer !== undefined) clock.clearTimeout(timer);
      await host.stop(reason);
      log('info', 'agent stopped');
    },
  };
}
