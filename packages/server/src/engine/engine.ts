/**
 * The delivery engine: accepts messages from the HTTP API, keeps them in the store until the device
 * acknowledges them, and feeds each device's live session in seq order through a bounded in-flight
 * window. It is the gateway's SessionListener.
 *
 * Concurrency: every store operation of a device runs in that device's chain (KeyedChain), so one
 * device's submits, acks and feeding never interleave; devices proceed in parallel. The expiry sweep is
 * global and only settles messages, which the chains tolerate (they re-check state after every await).
 */
import { randomUUID } from 'node:crypto';
import type { Ack, Clock, TimerHandle } from '@localpush/protocol';
import type { ListOptions, NewMessage, Receipt, ReceiptEvent, Store, StoredMessage } from '../store/types.js';
import { KeyedChain } from './chain.js';
import { expiredNotice, outcomeOf, overflowNotice, statusOfState, toPush } from './convert.js';
import { validateOptions, type DeliveryEngineOptions } from './options.js';
import type {
  DeliveryEngine,
  DeviceSession,
  MessageStatus,
  SendOutcome,
  SendRequest,
  SessionListener,
} from './types.js';
import { AckWaiters } from './waiters.js';

export { DEFAULT_ENGINE_OPTIONS, type DeliveryEngineOptions } from './options.js';
export { statusOfState, toPush } from './convert.js';

/** Minimal logger shape (pino satisfies it). */
export interface EngineLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What {@link createDeliveryEngine} needs. */
export interface DeliveryEngineDeps {
  store: Store;
  clock: Clock;
  logger?: EngineLogger;
  options?: Partial<DeliveryEngineOptions>;
  /** Called for every sent message that was not acked within ackTimeoutMs (the APNs fallback's hook). */
  onAckTimeout?: (message: StoredMessage) => void;
}

/** Thrown by submit and friends once {@link DeliveryEngineImpl.close} was called. */
export class EngineClosedError extends Error {
  override readonly name = 'EngineClosedError';
  constructor() {
    super('the delivery engine is closed');
  }
}

/** The engine as the server wires it: the DeliveryEngine and SessionListener contracts plus extras. */
export interface DeliveryEngineImpl extends DeliveryEngine, SessionListener {
  /**
   * Follows sent messages that were not acked within ackTimeoutMs. The message stays stored and is
   * redelivered when the device reconnects; the listener may hand it to APNs with {@link fallBack}.
   */
  onAckTimeout(listener: (message: StoredMessage) => void): () => void;
  /** Settles an undelivered message as `fallen_back` (handed to another path). Undefined when not undelivered. */
  fallBack(messageId: string, detail: string): Promise<StoredMessage | undefined>;
  /** A device's messages, newest first. */
  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]>;
  /** Whether the engine has a live session for the device. */
  isOnline(deviceId: string): boolean;
  /** Number of pending ack waiters (submitAndWait); for tests and metrics. */
  readonly waiterCount: number;
  /** Resolves when no device operation or sweep is queued or running (for tests). */
  idle(): Promise<void>;
  /** Stops the sweep and ack timers, settles every waiter with `timeout`, waits for running operations. */
  close(): Promise<void>;
}

/** Creates the delivery engine. Starts its expiry sweep on the injected clock; stop it with close(). */
export function createDeliveryEngine(deps: DeliveryEngineDeps): DeliveryEngineImpl {
  return new Engine(deps);
}

/** How many of a device's newest messages are scanned to learn the highest seq ever sent to it. */
const SEED_SCAN_LIMIT = 4096;

/** Per-device state, kept in memory for the process's life. */
interface DeviceState {
  readonly deviceId: string;
  /** The newest session; events from any other session are ignored. */
  session: DeviceSession | undefined;
  /** True once the session's resume cursor was applied; feeding waits for it. */
  ready: boolean;
  /** Pushes written on the current session and not yet acked or settled: seq → message id. */
  inFlight: Map<number, string>;
  /** Highest seq written on the current session (or the resume cursor): the feed continues after it. */
  cursor: number;
  /** Highest seq ever written to the device (this process, plus what the store says was sent before). */
  highestSent: number;
  /** True once highestSent is known to be complete, so that larger ack cursors are invalid. */
  bounded: boolean;
  seeded: boolean;
  /** Messages dropped by overflow while the device was offline; told on its next connect. */
  pendingOverflow: number;
  /** Messages that expired unsent while the device was offline; told on its next connect. */
  pendingExpired: number;
}

class Engine implements DeliveryEngineImpl {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: EngineLogger | undefined;
  private readonly options: DeliveryEngineOptions;
  private readonly chain = new KeyedChain();
  private readonly devices = new Map<string, DeviceState>();
  private readonly waiters: AckWaiters;
  private readonly receiptListeners = new Set<(receipt: Receipt) => void>();
  private readonly ackTimeoutListeners = new Set<(message: StoredMessage) => void>();
  /** One ack timer per sent message id; restarted on redelivery, cleared on ack or settle. */
  private readonly ackTimers = new Map<string, { deviceId: string; handle: TimerHandle }>();
  private sweepTimer: TimerHandle | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;

  constructor(deps: DeliveryEngineDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.options = validateOptions(deps.options);
    this.waiters = new AckWaiters(deps.clock);
    if (deps.onAckTimeout !== undefined) this.ackTimeoutListeners.add(deps.onAckTimeout);
    this.scheduleSweep();
  }

  get waiterCount(): number {
    return this.waiters.size;
  }

  // ── DeliveryEngine ────────────────────────────────────────────────────────────────────────────────

  submit(request: SendRequest): Promise<SendOutcome> {
    if (this.closed) return Promise.reject(new EngineClosedError());
    const id = request.id ?? randomUUID();
    return this.chain.run(request.deviceId, () => this.submitInChain(request, id));
  }

  /**
   * The waiter is registered before the submit is even queued, so no ack can slip past it and the
   * deadline counts from the call, however busy the device's chain is.
   */
  async submitAndWait(request: SendRequest, timeoutMs: number): Promise<SendOutcome> {
    if (this.closed) throw new EngineClosedError();
    const id = request.id ?? randomUUID();
    const wait = this.waiters.wait(id, timeoutMs);
    let outcome: SendOutcome;
    try {
      outcome = await this.submit({ ...request, id });
    } catch (error) {
      wait.cancel();
      throw error;
    }
    if (outcome.status !== 'sent' && outcome.status !== 'queued') {
      wait.cancel();
      return outcome;
    }
    return { ...outcome, status: await wait.promise };
  }

  async status(messageId: string): Promise<MessageStatus | undefined> {
    const message = await this.store.getMessage(messageId);
    if (message === undefined) return undefined;
    return { message, receipts: await this.store.receipts(messageId) };
  }

  onReceipt(listener: (receipt: Receipt) => void): () => void {
    this.receiptListeners.add(listener);
    return () => this.receiptListeners.delete(listener);
  }

  onAckTimeout(listener: (message: StoredMessage) => void): () => void {
    this.ackTimeoutListeners.add(listener);
    return () => this.ackTimeoutListeners.delete(listener);
  }

  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]> {
    return this.store.listMessages(deviceId, options);
  }

  isOnline(deviceId: string): boolean {
    return this.devices.get(deviceId)?.session?.isOpen ?? false;
  }

  async fallBack(messageId: string, detail: string): Promise<StoredMessage | undefined> {
    this.assertOpen();
    const message = await this.store.markFallenBack(messageId, this.clock.now(), detail);
    if (message === undefined) return undefined;
    this.settled(message, 'fallen_back', detail);
    this.schedulePump(message.deviceId);
    return message;
  }

  async idle(): Promise<void> {
    while (this.sweeping !== undefined || this.chain.activeKeys > 0) {
      await this.sweeping;
      await this.chain.idle();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const timer of this.ackTimers.values()) this.clock.clearTimeout(timer.handle);
    this.ackTimers.clear();
    this.waiters.settleAll('timeout');
    await Promise.allSettled([this.chain.idle(), this.sweeping]);
    // A submitAndWait that raced with close may have registered its waiter meanwhile; settle it too.
    this.waiters.settleAll('timeout');
  }

  // ── SessionListener ───────────────────────────────────────────────────────────────────────────────

  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void {
    if (this.closed) return;
    const state = this.stateOf(session.deviceId);
    state.session = session;
    state.ready = false;
    state.inFlight = new Map();
    state.cursor = 0;
    this.background(session.deviceId, 'session open', async () => {
      if (state.session !== session) return;
      await this.seed(state);
      if (state.session !== session) return;
      if (resumeThrough !== undefined && resumeThrough > 0) {
        // [LP-4.5] The resume cursor is a cumulative ack, but never of more than was ever sent: a cursor
        // from a wiped server must not acknowledge messages the device has not seen.
        let through = resumeThrough;
        if (state.bounded && through > state.highestSent) {
          this.logger?.warn(
            { device: state.deviceId, resume: resumeThrough, highestSent: state.highestSent },
            'resume cursor beyond the highest seq ever sent; acknowledging only what was sent',
          );
          through = state.highestSent;
        }
        if (through > 0) await this.applyAck(state, { through });
        if (state.session !== session) return;
        state.cursor = Math.max(state.cursor, through);
      }
      if (state.pendingOverflow > 0 && session.isOpen) {
        session.sendNotice(overflowNotice(state.pendingOverflow, 'while the device was offline'));
        state.pendingOverflow = 0;
      }
      if (state.pendingExpired > 0 && session.isOpen) {
        session.sendNotice(expiredNotice(state.pendingExpired));
        state.pendingExpired = 0;
      }
      state.ready = true;
      await this.pump(state);
    });
  }

  sessionClosed(session: DeviceSession): void {
    const state = this.devices.get(session.deviceId);
    if (state === undefined || state.session !== session) return;
    // In-flight messages stay sent in the store and are redelivered on the next session.
    state.session = undefined;
    state.ready = false;
    state.inFlight = new Map();
    state.cursor = 0;
  }

  /**
   * Returns false — without acting on any of it — when the ack's `through` exceeds the highest seq ever
   * sent to the device, so that the gateway answers LP_ACK_INVALID [LP-6.5]. Acks from a session that is
   * not the device's newest are ignored (true). Ids of unknown or settled messages are ignored.
   */
  ackReceived(session: DeviceSession, ack: Ack): boolean {
    const state = this.devices.get(session.deviceId);
    if (state === undefined || state.session !== session || this.closed) return true;
    if (ack.through !== undefined && state.bounded && ack.through > state.highestSent) return false;
    this.background(state.deviceId, 'ack', async () => {
      await this.applyAck(state, ack);
      if (state.session === session) await this.pump(state);
    });
    return true;
  }

  // ── submit ────────────────────────────────────────────────────────────────────────────────────────

  /** A submit, inside the device's chain. */
  private async submitInChain(request: SendRequest, id: string): Promise<SendOutcome> {
    this.assertOpen();
    const now = this.clock.now();
    const existing = await this.store.getMessage(id);
    if (existing !== undefined) return outcomeOf(existing, true);
    const device = await this.store.getDevice(request.deviceId);
    if (device === undefined) {
      return { deviceId: request.deviceId, id, status: 'unknown_device', duplicate: false };
    }
    const message: NewMessage = {
      id,
      deviceId: request.deviceId,
      kind: request.kind,
      payload: request.payload,
      priority: request.priority,
      expiration: request.expiration ?? Math.floor(now / 1000) + this.options.defaultTtlSeconds,
      collapseId: request.collapseId ?? null,
      acceptedAt: now,
    };
    const state = this.stateOf(request.deviceId);
    const online = state.session?.isOpen ?? false;
    const pastExpiration = message.expiration > 0 && message.expiration * 1000 <= now;
    if (pastExpiration || (message.expiration === 0 && !online)) {
      const stored = await this.store.recordExpired(message, now);
      this.emit(stored, 'accepted', stored.acceptedAt, null);
      this.emit(stored, 'expired', now, null);
      this.waiters.settle(id, 'expired');
      return outcomeOf(stored, false);
    }

    const result = await this.store.enqueue(message, { maxQueuePerDevice: this.options.maxQueuePerDevice });
    // A duplicate here means the same id raced in through another device's chain.
    if (result.duplicate) return outcomeOf(result.message, true);
    const stored = result.message;
    this.emit(stored, 'accepted', stored.acceptedAt, null);
    for (const older of result.collapsed) this.settled(older, 'collapsed', stored.id);
    for (const older of result.overflowed) this.settled(older, 'overflowed', stored.id);
    if (result.overflowed.length > 0) this.tellOverflow(state, result.overflowed.length);

    await this.pump(state);
    return {
      deviceId: stored.deviceId,
      id: stored.id,
      status: state.inFlight.get(stored.seq) === stored.id ? 'sent' : 'queued',
      duplicate: false,
      seq: stored.seq,
    };
  }

  /** Sends a queue_overflow notice now when the device is connected, else on its next connect. [LP-6.7] */
  private tellOverflow(state: DeviceState, count: number): void {
    const session = state.session;
    if (session?.isOpen === true && state.ready) {
      session.sendNotice(overflowNotice(count, 'because the queue is full'));
    } else {
      state.pendingOverflow += count;
    }
    this.logger?.warn(
      { device: state.deviceId, dropped: count },
      'device queue overflowed; oldest messages dropped',
    );
  }

  /** Sends an `expired` notice now when the device is connected, else on its next connect. [LP-6.7] */
  private tellExpired(state: DeviceState, count: number): void {
    const session = state.session;
    if (session?.isOpen === true && state.ready) session.sendNotice(expiredNotice(count));
    else state.pendingExpired += count;
  }

  // ── feeding and acks ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes the device's deliverable backlog after its cursor, in seq order, while the in-flight window
   * has room. Runs inside the device's chain.
   */
  private async pump(state: DeviceState): Promise<void> {
    const session = state.session;
    if (session === undefined || !session.isOpen || !state.ready || this.closed) return;
    const room = this.options.maxInFlightPerDevice - state.inFlight.size;
    if (room <= 0) return;
    const now = this.clock.now();
    const batch = await this.store.deliverable(state.deviceId, state.cursor, now, room);
    if (state.session !== session || !session.isOpen || batch.length === 0) return;
    const written: StoredMessage[] = [];
    for (const message of batch) {
      if (!session.sendPush(toPush(message))) break;
      state.inFlight.set(message.seq, message.id);
      state.cursor = Math.max(state.cursor, message.seq);
      state.highestSent = Math.max(state.highestSent, message.seq);
      written.push(message);
      this.startAckTimer(message);
      // Emitted as the push is written, so that a settle racing with markSent (the sweep) comes after it.
      this.emit(message, 'sent', now, null);
    }
    if (written.length === 0) return;
    await this.store.markSent(
      state.deviceId,
      written.map((m) => m.seq),
      now,
    );
  }

  /** Acknowledges in the store, then settles waiters, timers and window slots. Runs inside the chain. */
  private async applyAck(state: DeviceState, ack: { ids?: string[]; through?: number }): Promise<void> {
    let through = ack.through;
    if (through !== undefined && state.bounded && through > state.highestSent) through = state.highestSent;
    const input: { ids?: string[]; through?: number } = {};
    if (ack.ids !== undefined && ack.ids.length > 0) input.ids = ack.ids;
    if (through !== undefined && through > 0) input.through = through;
    if (input.ids === undefined && input.through === undefined) return;
    const acked = await this.store.acknowledge(state.deviceId, input, this.clock.now());
    for (const message of acked) this.settled(message, 'acked', null);
    if (input.through !== undefined) {
      for (const seq of [...state.inFlight.keys()]) if (seq <= input.through) state.inFlight.delete(seq);
    }
    if (input.ids !== undefined) {
      const ids = new Set(input.ids);
      for (const [seq, id] of [...state.inFlight]) if (ids.has(id)) state.inFlight.delete(seq);
    }
  }

  /**
   * Learns the highest seq ever sent to the device from the store, once per process, so that acks after
   * a server restart are validated against what the previous process sent. Runs inside the chain.
   */
  private async seed(state: DeviceState): Promise<void> {
    if (state.seeded) return;
    const recent = await this.store.listMessages(state.deviceId, { limit: SEED_SCAN_LIMIT });
    const lastSent = recent.find((m) => m.sentAt !== null);
    if (lastSent !== undefined) state.highestSent = Math.max(state.highestSent, lastSent.seq);
    // Without a sent message in a full page the bound is unknown: stay lenient rather than reject acks.
    state.bounded = lastSent !== undefined || recent.length < SEED_SCAN_LIMIT;
    state.seeded = true;
  }

  /** Bookkeeping for a message that reached a terminal state: receipt, ack timer, window slot, waiters. */
  private settled(message: StoredMessage, event: ReceiptEvent, detail: string | null): void {
    this.emit(message, event, message.settledAt ?? this.clock.now(), detail);
    const timer = this.ackTimers.get(message.id);
    if (timer !== undefined) {
      this.clock.clearTimeout(timer.handle);
      this.ackTimers.delete(message.id);
    }
    const state = this.devices.get(message.deviceId);
    if (state !== undefined && state.inFlight.get(message.seq) === message.id)
      state.inFlight.delete(message.seq);
    this.waiters.settle(message.id, statusOfState(message.state));
  }

  private startAckTimer(message: StoredMessage): void {
    const previous = this.ackTimers.get(message.id);
    if (previous !== undefined) this.clock.clearTimeout(previous.handle);
    const handle = this.clock.setTimeout(() => {
      if (this.ackTimers.get(message.id)?.handle !== handle) return;
      this.ackTimers.delete(message.id);
      this.background(message.deviceId, 'ack timeout', async () => {
        const current = await this.store.getMessage(message.id);
        if (current?.state !== 'sent') return;
        this.logger?.debug({ device: message.deviceId, id: message.id }, 'message not acknowledged in time');
        for (const listener of [...this.ackTimeoutListeners]) {
          try {
            listener(current);
          } catch (error) {
            this.logger?.error({ err: error }, 'ack-timeout listener failed');
          }
        }
      });
    }, this.options.ackTimeoutMs);
    this.ackTimers.set(message.id, { deviceId: message.deviceId, handle });
  }

  // ── expiry sweep ──────────────────────────────────────────────────────────────────────────────────

  private scheduleSweep(): void {
    if (this.closed) return;
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = undefined;
        this.scheduleSweep();
      });
    }, this.options.expirySweepMs);
  }

  /** Settles every message whose expiration passed, then refills the windows that freed up. */
  private async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const expired = await this.store.expireDue(this.clock.now());
      // Per device: how many expired without ever being written (those are worth a notice). [LP-6.7]
      const touched = new Map<string, number>();
      for (const message of expired) {
        this.settled(message, 'expired', null);
        touched.set(
          message.deviceId,
          (touched.get(message.deviceId) ?? 0) + (message.sentAt === null ? 1 : 0),
        );
      }
      for (const [deviceId, unsent] of touched) {
        if (unsent > 0) this.tellExpired(this.stateOf(deviceId), unsent);
        this.schedulePump(deviceId);
      }
    } catch (error) {
      if (!this.closed) this.logger?.error({ err: error }, 'expiry sweep failed');
    }
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────────

  private stateOf(deviceId: string): DeviceState {
    let state = this.devices.get(deviceId);
    if (state === undefined) {
      state = {
        deviceId,
        session: undefined,
        ready: false,
        inFlight: new Map(),
        cursor: 0,
        highestSent: 0,
        bounded: false,
        seeded: false,
        pendingOverflow: 0,
        pendingExpired: 0,
      };
      this.devices.set(deviceId, state);
    }
    return state;
  }

  private schedulePump(deviceId: string): void {
    const state = this.devices.get(deviceId);
    if (state?.session === undefined) return;
    this.background(deviceId, 'refill', () => this.pump(state));
  }

  /** Runs a fire-and-forget operation in the device's chain; failures are logged, never thrown. */
  private background(deviceId: string, what: string, operation: () => Promise<void>): void {
    if (this.closed) return;
    this.chain.run(deviceId, operation).catch((error: unknown) => {
      if (!this.closed) this.logger?.error({ err: error, device: deviceId }, `engine ${what} failed`);
    });
  }

  private emit(message: StoredMessage, event: ReceiptEvent, at: number, detail: string | null): void {
    if (this.receiptListeners.size === 0) return;
    const receipt: Receipt = { messageId: message.id, deviceId: message.deviceId, event, at, detail };
    for (const listener of [...this.receiptListeners]) {
      try {
        listener(receipt);
      } catch (error) {
        this.logger?.error({ err: error }, 'receipt listener failed');
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineClosedError();
  }
}
