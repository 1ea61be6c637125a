/**
 * ProviderHost plays the part of iOS: it watches the network and the saved configurations, launches a
 * provider when an enabled configuration matches, calls handleTimerEvent every 60 s, stops it when the
 * network goes away, and relaunches it (with back-off) when it crashes or runs out of memory.
 *
 * One live instance per configuration: each configuration has a slot whose changes run one at a time
 * (a single "drive" loop per slot); a new instance is created only after the previous one has been fully
 * released (its worker has exited), however network events race.
 */
import { EventEmitter } from 'node:events';
import { type Clock, type TimerHandle, backoffDelay, systemClock } from '@localpush/protocol';
import { type AppPushConfiguration, type NetworkState, matchNetwork } from './configuration.js';
import type { JsonObject } from './json.js';
import { type SdkLog, silentLog } from './log.js';
import { type AppPushManager, hostBridge } from './manager.js';
import type { NetworkMonitor } from './network.js';
import type { PreferencesDocument, PreferencesStore, RejectedRecord } from './preferences.js';
import { AppPushError, AppPushErrorCode, ProviderHostError, ProviderHostErrorCode } from './errors.js';
import { StopReason, stopReasonName } from './provider.js';
import { BUILTIN_PROVIDERS, type ProviderRegistry, lookupProvider } from './registry.js';
import {
  type CrashKind,
  InProcessInstance,
  type LaunchRequest,
  type ProviderInstance,
  WorkerInstance,
} from './instance.js';

/** Where providers run: a worker thread each (isolated, memory-limited) or the host's own thread. */
export type Isolation = 'worker' | 'in-process';

/** Relaunch back-off after crashes and failed starts: full jitter over min(maxMs, initialMs × 2^n). */
export interface RelaunchBackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Upper bound. */
  maxMs: number;
  /** The failure count resets once an instance has run this long. */
  resetAfterMs: number;
}

/** Options of {@link ProviderHost}. */
export interface ProviderHostOptions {
  store: PreferencesStore;
  monitor: NetworkMonitor;
  clock?: Clock;
  /** Default `worker`. */
  isolation?: Isolation;
  /** Registrations consulted before the preferences file's `providers` and the built-ins. */
  registry?: ProviderRegistry;
  /** Directory that relative provider module paths resolve against (the agent passes the prefs dir). */
  baseDir?: string;
  /** Worker heap limit in MiB; 24 like the iOS 15/16 extension limit. */
  memoryLimitMb?: number;
  /** Period of handleTimerEvent; 60 s like iOS. */
  timerIntervalMs?: number;
  backoff?: Partial<RelaunchBackoffOptions>;
  /** Source of the relaunch back-off's jitter (full jitter over the window), in [0, 1]. Default Math.random. */
  random?: () => number;
  /**
   * How long a provider's start() may take (default 30 s). Past it the instance is ended — a worker
   * terminated — and the failure handled like a crash: `crashed` (kind `start-timeout`,
   * `LP_PROVIDER_START_TIMEOUT`), then a relaunch with back-off.
   */
  startTimeoutMs?: number;
  /** How long a provider's stop may take before its worker is terminated (default 10 s). */
  stopTimeoutMs?: number;
  log?: SdkLog;
}

/** The default worker heap limit (MiB). */
export const DEFAULT_MEMORY_LIMIT_MB = 24;
/** The timer period iOS uses. */
export const TIMER_INTERVAL_MS = 60_000;
/** How long a start() may take by default before the host ends the instance. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** How long a stop() may take by default before the host terminates the worker. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/**
 * Events of {@link ProviderHost}, each with the configuration id first: `launched`, `started`,
 * `startFailed` (err), `stopped` (reason), `crashed` (err, kind), `relaunchScheduled` (delayMs), `timer`,
 * `incomingCall` (userInfo), `pushToTalk` (userInfo); plus `network` (state) and
 * `configurationRejected` (err: AppPushError configurationInvalid, record: RejectedRecord) for a stored
 * record that breaks a rule — the store's other configurations run regardless.
 */
export const ProviderHostEvent = {
  launched: 'launched',
  started: 'started',
  startFailed: 'startFailed',
  stopped: 'stopped',
  crashed: 'crashed',
  relaunchScheduled: 'relaunchScheduled',
  timer: 'timer',
  incomingCall: 'incomingCall',
  pushToTalk: 'pushToTalk',
  network: 'network',
  configurationRejected: 'configurationRejected',
} as const;

interface Slot {
  config: AppPushConfiguration;
  /** Whether the configuration should run now, and if not, why (the stop reason). */
  want: boolean;
  reason: StopReason;
  instance: ProviderInstance | undefined;
  /**
   * Set by the crash callback; the drive loop releases the instance, then reports the crash and
   * schedules the relaunch, so `crashed` is emitted once the instance no longer counts as live.
   */
  crash: { err: Error; kind: CrashKind } | undefined;
  running: boolean;
  startedAt: number;
  failures: number;
  backoff: TimerHandle | undefined;
  timer: TimerHandle | undefined;
  ethernetUnmatched: boolean;
  removed: boolean;
  /** Stop the current instance even though the configuration still wants to run (implementation swap). */
  restart: boolean;
  driving: Promise<void> | undefined;
  /** Set while the instance's start() runs: ends the wait when the slot no longer wants it. */
  starting: { interrupt(): void } | undefined;
  /** The providerConfiguration (as JSON) the current instance has; a save that differs is delivered. */
  delivered: string | undefined;
}

/** How an instance's start ended, as the host saw it. */
type StartOutcome =
  | { kind: 'started' }
  | { kind: 'failed'; error: unknown }
  /** A stop was requested first (left the network, disabled, removed, host stopping). */
  | { kind: 'interrupted' }
  | { kind: 'timeout'; limitMs: number };

/** The system side of Local Push Connectivity. */
export class ProviderHost extends EventEmitter {
  private readonly store: PreferencesStore;
  private readonly monitor: NetworkMonitor;
  private readonly clock: Clock;
  private readonly isolation: Isolation;
  private readonly options: ProviderHostOptions;
  private readonly backoff: RelaunchBackoffOptions;
  private readonly log: SdkLog;
  private readonly slots = new Map<string, Slot>();
  private readonly managers = new Map<string, Set<AppPushManager>>();
  private providers: PreferencesDocument['providers'];
  /** Rejected records already reported (section, key and content). */
  private rejectedSeen = new Set<string>();
  private network: NetworkState = { ethernet: false };
  private started = false;
  private live = 0;
  private maxLive = 0;
  private readonly onNetwork = (state: NetworkState): void => this.networkChanged(state);
  private readonly onStore = (doc: PreferencesDocument): void => this.apply(doc);

  constructor(options: ProviderHostOptions) {
    super();
    this.options = options;
    this.store = options.store;
    this.monitor = options.monitor;
    this.clock = options.clock ?? systemClock;
    this.isolation = options.isolation ?? 'worker';
    this.log = options.log ?? silentLog;
    this.backoff = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 120_000, ...options.backoff };
  }

  /** Loads the configurations, starts the monitor, and launches whatever matches. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.monitor.on('change', this.onNetwork);
    this.store.on('change', this.onStore);
    await this.monitor.start();
    this.network = this.monitor.current();
    this.apply(await this.store.read());
  }

  /** Stops every provider with `reason` and detaches from the monitor and the store. */
  async stop(reason: StopReason = StopReason.none): Promise<void> {
    this.started = false;
    this.monitor.off('change', this.onNetwork);
    this.store.off('change', this.onStore);
    this.monitor.stop();
    for (const slot of this.slots.values()) this.want(slot, false, reason);
    await this.idle();
  }

  /** Re-reads the store (for stores changed by another process; the agent polls the file). */
  async reload(): Promise<void> {
    this.apply(await this.store.read());
  }

  /** Routes incoming calls and isActive of the manager's configuration to this manager object. */
  attach(manager: AppPushManager): void {
    const id = manager.configurationId;
    if (id === undefined) throw new Error('attach: save or load the manager first');
    let set = this.managers.get(id);
    if (set === undefined) this.managers.set(id, (set = new Set()));
    set.add(manager);
    manager[hostBridge].setActive(this.slots.get(id)?.running ?? false);
  }

  /** Undoes {@link attach}. */
  detach(manager: AppPushManager): void {
    const id = manager.configurationId;
    if (id !== undefined) this.managers.get(id)?.delete(manager);
  }

  /** Resolves once no slot has work in flight (launches, stops and releases all settled). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.slots.values()].map((s) => s.driving).filter((d) => d !== undefined);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Live instances now, and the most ever live at once, over all configurations (for tests and metrics). */
  get instanceCounts(): { live: number; maxLive: number } {
    return { live: this.live, maxLive: this.maxLive };
  }

  /** Whether the configuration's provider has started and not stopped (the manager's isActive). */
  isActive(configurationId: string): boolean {
    return this.slots.get(configurationId)?.running ?? false;
  }

  private networkChanged(state: NetworkState): void {
    // A lost wired link forgets unmatchEthernet(): the next link may be another network.
    if (!state.ethernet) for (const s of this.slots.values()) s.ethernetUnmatched = false;
    this.network = state;
    this.emit(ProviderHostEvent.network, state);
    for (const slot of this.slots.values()) this.evaluate(slot);
  }

  private apply(doc: PreferencesDocument): void {
    if (!this.started) return;
    this.reportRejected(doc.rejected ?? []);
    this.providers = doc.providers;
    const seen = new Set<string>();
    for (const config of doc.configurations) {
      seen.add(config.id);
      const slot = this.slots.get(config.id);
      if (slot === undefined) {
        this.slots.set(config.id, this.newSlot(config));
        continue;
      }
      const prev = slot.config;
      slot.config = config;
      if (prev.providerBundleIdentifier !== config.providerBundleIdentifier) {
        // Another implementation now: the old one must go before the new one may start.
        slot.restart = slot.instance !== undefined;
        slot.reason = StopReason.superceded;
        this.kick(slot);
      } else {
        // A running provider gets it now; one still starting gets it as soon as its start completed.
        this.deliverConfiguration(slot);
      }
    }
    for (const [id, slot] of this.slots) {
      if (seen.has(id)) continue;
      slot.removed = true;
      this.want(slot, false, StopReason.configurationRemoved);
    }
    for (const slot of this.slots.values()) if (!slot.removed) this.evaluate(slot);
  }

  /** Reports each stored record that breaks a rule once (not again on every later read of the store). */
  private reportRejected(rejected: readonly RejectedRecord[]): void {
    const now = new Set<string>();
    for (const record of rejected) {
      const key = JSON.stringify([record.section, record.key, record.record]);
      now.add(key);
      if (this.rejectedSeen.has(key)) continue;
      const err = new AppPushError(AppPushErrorCode.configurationInvalid, record.message);
      this.log('warn', 'preferences record refused; the others run', { code: err.code, err });
      this.emit(ProviderHostEvent.configurationRejected, err, record);
    }
    this.rejectedSeen = now;
  }

  private newSlot(config: AppPushConfiguration): Slot {
    return {
      config,
      want: false,
      reason: StopReason.none,
      instance: undefined,
      crash: undefined,
      running: false,
      startedAt: 0,
      failures: 0,
      backoff: undefined,
      timer: undefined,
      ethernetUnmatched: false,
      removed: false,
      restart: false,
      driving: undefined,
      starting: undefined,
      delivered: undefined,
    };
  }

  private evaluate(slot: Slot): void {
    if (slot.removed) return;
    if (!slot.config.isEnabled) return this.want(slot, false, StopReason.configurationDisabled);
    const match = matchNetwork(slot.config, this.network, slot.ethernetUnmatched);
    this.want(slot, this.started && match !== undefined, StopReason.noNetworkAvailable);
  }

  private want(slot: Slot, want: boolean, reason: StopReason): void {
    slot.want = want;
    if (!want) {
      slot.reason = reason;
      // Leaving the network cancels a pending relaunch; rejoining launches at once, as iOS does.
      if (slot.backoff !== undefined) this.clock.clearTimeout(slot.backoff);
      slot.backoff = undefined;
    }
    this.kick(slot);
  }

  private kick(slot: Slot): void {
    if (slot.driving !== undefined) {
      // The running loop re-reads the slot after every step; a start in progress is one step that a stop
      // request must not wait for.
      if (slot.starting !== undefined && (!slot.want || slot.restart)) slot.starting.interrupt();
      return;
    }
    slot.driving = this.drive(slot).finally(() => {
      slot.driving = undefined;
      // A change that arrived after the loop's last check but before this callback found `driving` still
      // set and did not start a loop; pick it up here so no wake-up is lost.
      if (this.nextStep(slot) !== undefined) this.kick(slot);
      else if (slot.removed && slot.instance === undefined) this.slots.delete(slot.config.id);
    });
  }

  /** What the drive loop must do next for this slot, or undefined when it is where it should be. */
  private nextStep(slot: Slot): 'release' | 'stop' | 'launch' | undefined {
    const inst = slot.instance;
    if (inst !== undefined && slot.crash !== undefined) return 'release';
    if (inst !== undefined && (!slot.want || slot.restart)) return 'stop';
    if (inst === undefined && slot.want && slot.backoff === undefined) return 'launch';
    return undefined;
  }

  private async drive(slot: Slot): Promise<void> {
    for (;;) {
      const inst = slot.instance;
      switch (this.nextStep(slot)) {
        case 'release': {
          const crash = slot.crash;
          this.released(slot);
          if (crash !== undefined)
            this.emit(ProviderHostEvent.crashed, slot.config.id, crash.err, crash.kind);
          this.scheduleRelaunch(slot);
          break;
        }
        case 'stop':
          if (inst !== undefined) await this.stopInstance(slot, inst);
          break;
        case 'launch':
          await this.launch(slot);
          break;
        case undefined:
          return;
      }
    }
  }

  private async launch(slot: Slot): Promise<void> {
    const config = slot.config;
    const registration = lookupProvider(
      config.providerBundleIdentifier,
      this.options.registry,
      this.providers,
      BUILTIN_PROVIDERS,
    );
    if (registration === undefined) {
      this.log('error', 'no provider registered for bundle identifier', {
        configurationId: config.id,
        providerBundleIdentifier: config.providerBundleIdentifier,
      });
      this.emit(ProviderHostEvent.startFailed, config.id, new Error('unknown providerBundleIdentifier'));
      this.scheduleRelaunch(slot);
      return;
    }
    // Instances report through closures that check they are still the slot's current instance, so a late
    // message from a released worker can never reach the app.
    // `inst` is assigned below, before any event can fire.
    const current = (): boolean => slot.instance === inst;
    const req: LaunchRequest = {
      configuration: config,
      registration,
      clock: this.clock,
      log: this.log,
      memoryLimitMb: this.options.memoryLimitMb ?? DEFAULT_MEMORY_LIMIT_MB,
      stopTimeoutMs: this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      ...(this.options.baseDir === undefined ? {} : { baseDir: this.options.baseDir }),
      events: {
        incomingCall: (u) => current() && this.deliver(config.id, 'incomingCall', u),
        pushToTalk: (u) => current() && this.deliver(config.id, 'pushToTalk', u),
        unmatchEthernet: () => {
          if (!current()) return;
          slot.ethernetUnmatched = true;
          this.evaluate(slot);
        },
        crashed: (err, kind) => current() && this.crashed(slot, err, kind),
      },
    };
    const inst: ProviderInstance =
      this.isolation === 'worker' ? new WorkerInstance(req) : new InProcessInstance(req);
    slot.instance = inst;
    slot.crash = undefined;
    slot.delivered = JSON.stringify(config.providerConfiguration);
    this.live++;
    this.maxLive = Math.max(this.maxLive, this.live);
    this.emit(ProviderHostEvent.launched, config.id);
    this.log('info', 'launching provider', { configurationId: config.id, isolation: this.isolation });
    const outcome = await this.startWithin(slot, inst);
    switch (outcome.kind) {
      case 'started':
        return this.onStarted(slot, inst);
      case 'failed':
        // A failed start has already released the instance (worker gone / provider stopped).
        this.log('warn', 'provider failed to start', { configurationId: config.id, err: outcome.error });
        this.released(slot);
        this.emit(ProviderHostEvent.startFailed, config.id, outcome.error);
        this.scheduleRelaunch(slot);
        return;
      case 'interrupted':
        // Stopped now whatever the slot wants by the time we get here: an abandoned start must not linger.
        return this.stopInstance(slot, inst);
      case 'timeout':
        return this.onStartTimeout(slot, inst, outcome.limitMs);
    }
  }

  /**
   * Waits for the instance's start, but no longer than the start deadline and no longer than the slot
   * wants it (a stop request interrupts the wait through {@link kick}).
   */
  private startWithin(slot: Slot, inst: ProviderInstance): Promise<StartOutcome> {
    const limitMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    return new Promise((resolve) => {
      const handle = { interrupt: () => settle({ kind: 'interrupted' }) };
      const settle = (outcome: StartOutcome): void => {
        if (slot.starting !== handle) return;
        slot.starting = undefined;
        this.clock.clearTimeout(timer);
        resolve(outcome);
      };
      const timer = this.clock.setTimeout(() => settle({ kind: 'timeout', limitMs }), limitMs);
      slot.starting = handle;
      inst.start().then(
        () => settle({ kind: 'started' }),
        (error: unknown) => settle({ kind: 'failed', error }),
      );
    });
  }

  private onStarted(slot: Slot, inst: ProviderInstance): void {
    if (slot.crash !== undefined) return; // Died between start and here; the drive loop handles it next.
    slot.startedAt = this.clock.now();
    this.setRunning(slot, true);
    this.emit(ProviderHostEvent.started, slot.config.id);
    this.scheduleTimer(slot, inst);
    this.deliverConfiguration(slot); // saved while it started
  }

  /** A start past its deadline: end the instance (a worker is terminated) and treat it as a crash. */
  private async onStartTimeout(slot: Slot, inst: ProviderInstance, limitMs: number): Promise<void> {
    const id = slot.config.id;
    const err = new ProviderHostError(
      ProviderHostErrorCode.START_TIMEOUT,
      `provider ${slot.config.providerBundleIdentifier} did not complete its start within ${limitMs} ms`,
    );
    this.log('warn', 'provider start timed out; ending it', { configurationId: id, err });
    await inst.terminate();
    this.released(slot);
    this.emit(ProviderHostEvent.crashed, id, err, 'start-timeout' satisfies CrashKind);
    this.scheduleRelaunch(slot);
  }

  /** Stops the slot's instance (also one whose start is still running) and releases it. */
  private async stopInstance(slot: Slot, inst: ProviderInstance): Promise<void> {
    const reason = slot.restart ? StopReason.superceded : slot.reason;
    slot.restart = false;
    this.setRunning(slot, false);
    this.log('info', 'stopping provider', {
      configurationId: slot.config.id,
      reason: stopReasonName(reason),
    });
    await inst.stop(reason);
    this.released(slot);
    this.emit(ProviderHostEvent.stopped, slot.config.id, reason);
  }

  /** Pushes the slot's providerConfiguration into its running instance if that one has another. */
  private deliverConfiguration(slot: Slot): void {
    const inst = slot.instance;
    if (inst === undefined || !slot.running) return;
    const json = JSON.stringify(slot.config.providerConfiguration);
    if (json === slot.delivered) return;
    slot.delivered = json;
    inst.update(slot.config.providerConfiguration);
  }

  private crashed(slot: Slot, err: Error, kind: CrashKind): void {
    this.log('warn', 'provider crashed', { configurationId: slot.config.id, kind, err });
    slot.crash = { err, kind };
    this.setRunning(slot, false);
    this.kick(slot);
  }

  private released(slot: Slot): void {
    if (slot.instance === undefined) return;
    slot.instance = undefined;
    slot.crash = undefined;
    this.live--;
    this.setRunning(slot, false);
  }

  private scheduleRelaunch(slot: Slot): void {
    if (!slot.want) return;
    if (slot.startedAt > 0 && this.clock.now() - slot.startedAt >= this.backoff.resetAfterMs)
      slot.failures = 0;
    slot.failures++;
    // Full jitter, as the client's reconnects: providers that crash on the same network change do not
    // all relaunch (and reconnect) in the same millisecond.
    const delay = backoffDelay(slot.failures - 1, this.backoff, this.options.random);
    slot.startedAt = 0;
    this.emit(ProviderHostEvent.relaunchScheduled, slot.config.id, delay);
    slot.backoff = this.clock.setTimeout(() => {
      slot.backoff = undefined;
      this.kick(slot);
    }, delay);
  }

  private scheduleTimer(slot: Slot, inst: ProviderInstance): void {
    const period = this.options.timerIntervalMs ?? TIMER_INTERVAL_MS;
    const tick = (): void => {
      slot.timer = undefined;
      if (slot.instance !== inst || !slot.running) return;
      inst.timer();
      this.emit(ProviderHostEvent.timer, slot.config.id);
      slot.timer = this.clock.setTimeout(tick, period);
    };
    slot.timer = this.clock.setTimeout(tick, period);
  }

  private setRunning(slot: Slot, running: boolean): void {
    if (!running && slot.timer !== undefined) {
      this.clock.clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    if (slot.running === running) return;
    slot.running = running;
    for (const m of this.managers.get(slot.config.id) ?? []) m[hostBridge].setActive(running);
  }

  private deliver(id: string, kind: 'incomingCall' | 'pushToTalk', userInfo: JsonObject): void {
    this.emit(
      kind === 'incomingCall' ? ProviderHostEvent.incomingCall : ProviderHostEvent.pushToTalk,
      id,
      userInfo,
    );
    for (const m of this.managers.get(id) ?? []) {
      try {
        m[hostBridge][kind](structuredClone(userInfo));
      } catch (err) {
        // A throwing delegate is the app's bug; it must not take the provider down with it.
        this.log('error', `${kind} delegate threw`, { configurationId: id, err });
      }
    }
  }
}
