/**
 * The delivery engine: accepts messages from the HTTP API, keeps them in the store until the device
 * acknowledges them, and feeds each device's live session in seq order through a bounded in-flight
 * window. It listens to the session directory (which decides which session is a device's) and hears
 * acks from the gateway.
 *
 * Concurrency: every store operation of a device runs in that device's chain (KeyedChain), so one
 * device's submits, acks and feeding never interleave; devices proceed in parallel. The expiry sweep is
 * global and only settles messages, which the chains tolerate (they re-check state after every await).
 *
 * Throughput (each awaited store call costs a group commit on SQLite, so the chain is kept short): the
 * submits queued for a device are taken by one chain operation whose store calls all join one commit;
 * there are no reads before enqueue; a device that is caught up gets new messages written straight from
 * the enqueue results, without a deliverable() read, and their markSent is not waited for; acks that
 * queue up behind a busy chain are merged into one acknowledge. The store runs operations in call
 * order, which is what keeps every later read of the device consistent with all of this.
 */
import { randomUUID } from 'node:crypto';
import type { Ack, Clock, TimerHandle } from '@localpush/protocol';
import { ServerErrorCode, StoreError } from '../errors.js';
import { MessageIdConflictError, isExpiredAt } from '../store/rules.js';
import type { ListOptions, Receipt, ReceiptEvent, Store, StoredMessage } from '../store/types.js';
import { KeyedChain } from './chain.js';
import {
  EngineClosedError,
  type DeliveryEngineDeps,
  type DeliveryEngineImpl,
  type EngineLogger,
  type SubmitHints,
} from './contracts.js';
import { expiredNotice, outcomeOf, overflowNotice, statusOfState, toPush } from './convert.js';
import { validateOptions, type DeliveryEngineOptions } from './options.js';
import {
  newDeviceState,
  seed,
  tellExpired,
  tellOverflow,
  type DeviceState,
  fellBehind,
  leaveWindow,
  resetFeed,
  type PendingAck,
  type PendingSubmit,
} from './state.js';
import { AckTimeouts } from './ack-timeouts.js';
import { hasRoom, readLimit, stopStallWatch, watchStall } from './feed.js';
import { issueGroup } from './submit-group.js';
import type { DeviceSession, MessageStatus, SendOutcome, SendRequest } from './types.js';
import { AckWaiters } from './waiters.js';

/** How long the engine waits before redoing a device's work that failed because the store was unavailable. */
const STORE_RETRY_MS = 1_000;

function isStoreUnavailable(error: unknown): boolean {
  return error instanceof StoreError && error.code === ServerErrorCode.STORE_UNAVAILABLE;
}

export { DEFAULT_ENGINE_OPTIONS, type DeliveryEngineOptions } from './options.js';
export {
  EngineClosedError,
  type DeliveryEngineDeps,
  type DeliveryEngineImpl,
  type EngineLogger,
} from './contracts.js';
export { statusOfState, toPush } from './convert.js';

/** Creates the delivery engine. Starts its expiry sweep on the injected clock; stop it with close(). */
export function createDeliveryEngine(deps: DeliveryEngineDeps): DeliveryEngineImpl {
  return new Engine(deps);
}

class Engine implements DeliveryEngineImpl {
  private readonly store: Store;
  readonly clock: Clock;
  readonly logger: EngineLogger | undefined;
  readonly options: DeliveryEngineOptions;
  private readonly chain = new KeyedChain();
  private readonly devices = new Map<string, DeviceState>();
  /** Submits waiting for their device's next submit group (see submit). */
  private readonly submitGroups = new Map<string, PendingSubmit[]>();
  /** markSent calls not waited for by anyone (see markSentLater); idle() and close() wait for them. */
  private readonly marking = new Set<Promise<void>>();
  private readonly waiters: AckWaiters;
  private readonly receiptListeners = new Set<(receipt: Receipt) => void>();
  private readonly ackTimeouts: AckTimeouts;
  /** Retries of device work that failed while the store was unavailable (see background). */
  private readonly retryTimers = new Set<TimerHandle>();
  private sweepTimer: TimerHandle | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;
  private readonly sharedStore: boolean;

  constructor(deps: DeliveryEngineDeps) {
    this.sharedStore = deps.sharedStore ?? false;
    this.store = deps.store;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.options = validateOptions(deps.options);
    this.waiters = new AckWaiters(deps.clock);
    this.ackTimeouts = new AckTimeouts({
      clock: this.clock,
      logger: this.logger,
      options: this.options,
      store: this.store,
      background: (deviceId, what, operation, retry) => this.background(deviceId, what, operation, retry),
      write: (state, session, message, now, detail) => this.write(state, session, message, now, detail),
      markSent: (state, written, now) => this.markSent(state, written, now),
    });
    if (deps.onAckTimeout !== undefined) this.ackTimeouts.listeners.add(deps.onAckTimeout);
    this.scheduleSweep();
  }

  get waiterCount(): number {
    return this.waiters.size;
  }

  // ── DeliveryEngine ────────────────────────────────────────────────────────────────────────────────

  /**
   * Submits join their device's next submit group: one chain operation that takes every submit queued
   * for the device by the time it runs (an HTTP batch queues all of its messages in one turn). Call
   * order is kept: a group holds submits in call order and groups run in the device's chain in order.
   */
  submit(request: SendRequest, hints?: SubmitHints): Promise<SendOutcome> {
    if (this.closed) return Promise.reject(new EngineClosedError());
    const id = request.id ?? randomUUID();
    const deviceId = request.deviceId;
    return new Promise<SendOutcome>((resolve, reject) => {
      let group = this.submitGroups.get(deviceId);
      if (group === undefined) {
        const items: PendingSubmit[] = [];
        group = items;
        this.submitGroups.set(deviceId, items);
        this.chain
          .run(deviceId, () => this.submitGroup(deviceId, items))
          .catch((error: unknown) => {
            // Settling a promise twice is a no-op, so submits that already have an outcome keep it.
            for (const item of items) item.reject(error);
            // Some of the group may be stored although the store failed afterwards (a write can run and
            // its answer be lost; the caller was told 503 and may never send again): the device is no
            // longer known to be caught up, and is fed from the store once it may be back.
            if (!isStoreUnavailable(error)) return;
            const state = this.devices.get(deviceId);
            if (state !== undefined) fellBehind(state);
            this.retryLater(() => this.schedulePump(deviceId));
          });
      }
      group.push({ request, id, onlineElsewhere: hints?.onlineElsewhere === true, resolve, reject });
    });
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
    this.ackTimeouts.listeners.add(listener);
    return () => this.ackTimeouts.listeners.delete(listener);
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

  refill(deviceId: string): void {
    const state = this.devices.get(deviceId);
    if (state?.session === undefined) return;
    // Inside the chain: a pump running now may still mark the device caught up from an older read.
    this.background(
      deviceId,
      'refill',
      () => {
        fellBehind(state);
        return this.pump(state);
      },
      () => this.refill(deviceId),
    );
  }

  async idle(): Promise<void> {
    while (this.sweeping !== undefined || this.chain.activeKeys > 0 || this.marking.size > 0) {
      await this.sweeping;
      await this.chain.idle();
      await Promise.all(this.marking);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const state of this.devices.values()) {
      this.ackTimeouts.stop(state);
      stopStallWatch(this.clock, state);
    }
    for (const handle of this.retryTimers) this.clock.clearTimeout(handle);
    this.retryTimers.clear();
    this.waiters.settleAll('timeout');
    await Promise.allSettled([this.chain.idle(), this.sweeping]);
    await Promise.allSettled(this.marking);
    // A submitAndWait that raced with close may have registered its waiter meanwhile; settle it too.
    this.waiters.settleAll('timeout');
  }

  // ── SessionListener ───────────────────────────────────────────────────────────────────────────────

  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void {
    if (this.closed) return;
    const state = this.stateOf(session.deviceId);
    state.session = session;
    resetFeed(state);
    this.ackTimeouts.stop(state);
    stopStallWatch(this.clock, state);
    this.background(
      session.deviceId,
      'session open',
      async () => {
        if (state.session !== session) return;
        await seed(this.store, state);
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
      },
      () => {
        // The store was unavailable: open the session again (seeding, resume, pump) once it may be back.
        if (state.session === session && session.isOpen) this.sessionOpened(session, resumeThrough);
      },
    );
  }

  sessionClosed(session: DeviceSession): void {
    const state = this.devices.get(session.deviceId);
    if (state === undefined || state.session !== session) return;
    // In-flight messages stay sent in the store and are redelivered on the next session.
    state.session = undefined;
    resetFeed(state);
    this.ackTimeouts.stop(state);
    stopStallWatch(this.clock, state);
  }

  sessionWritable(session: DeviceSession): void {
    const state = this.devices.get(session.deviceId);
    if (state === undefined || state.session !== session || this.closed) return;
    this.schedulePump(session.deviceId);
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
    state.acks += 1;
    // Acks that arrive while the device's chain is busy are merged into the one already waiting there:
    // acknowledging is a union (ids, and the largest cumulative cursor), so one store call does for all.
    const waiting = state.pendingAck;
    if (waiting !== undefined && waiting.session === session) {
      if (ack.ids !== undefined) waiting.ids.push(...ack.ids);
      if (ack.through !== undefined) waiting.through = Math.max(waiting.through ?? 0, ack.through);
      return true;
    }
    const merged: PendingAck = { session, ids: [...(ack.ids ?? [])], through: ack.through };
    state.pendingAck = merged;
    this.background(
      state.deviceId,
      'ack',
      async () => {
        if (state.pendingAck === merged) state.pendingAck = undefined;
        await this.applyAck(state, merged);
        if (state.session === session) await this.pump(state);
      },
      // Acknowledging is idempotent: the same ack again, once the store may be back.
      () => {
        if (state.session !== session) return;
        this.ackReceived(session, {
          type: 'ack',
          ids: merged.ids,
          ...(merged.through !== undefined ? { through: merged.through } : {}),
        });
      },
    );
    return true;
  }

  // ── submit ────────────────────────────────────────────────────────────────────────────────────────

  /**
   * A submit group, inside the device's chain. Every store call of the group is issued at once, in call
   * order, so they share one group commit, take consecutive seqs in call order, and each runs against
   * the state the previous one left — as if they had run one after another. There is no getMessage or
   * getDevice first: enqueue reports duplicates itself and rejects an unknown device, which is then
   * confirmed with one getDevice. Pushes are written only after their enqueue committed.
   */
  private async submitGroup(deviceId: string, items: readonly PendingSubmit[]): Promise<void> {
    if (this.submitGroups.get(deviceId) === items) this.submitGroups.delete(deviceId);
    this.assertOpen();
    const now = this.clock.now();
    const online = this.devices.get(deviceId)?.session?.isOpen ?? false;
    const results = await issueGroup(this.store, items, now, online, this.options);

    // By index of `items`. Most groups hold one submit (a batch's messages mostly go to different
    // devices), so the rarer structures are made only when needed.
    const outcomes: (SendOutcome | undefined)[] = new Array<SendOutcome | undefined>(items.length);
    let failures: Map<number, unknown> | undefined;
    const accepted: { index: number; message: StoredMessage }[] = [];
    /** Messages of this group that a later one of the group collapsed or overflowed: never written. */
    let superseded: Set<string> | undefined;
    let state: DeviceState | undefined;
    for (let index = 0; index < items.length; index++) {
      const settled = results[index];
      if (settled === undefined) continue;
      if (settled.status === 'rejected') {
        (failures ??= new Map()).set(index, settled.reason);
        continue;
      }
      const value = settled.value;
      if (value.kind === 'expired') {
        if (value.existing !== undefined) {
          outcomes[index] = outcomeOf(value.existing, true);
          continue;
        }
        const stored = value.stored;
        this.emit(stored, 'accepted', stored.acceptedAt, null);
        this.emit(stored, 'expired', now, null);
        this.waiters.settle(stored.id, 'expired');
        outcomes[index] = outcomeOf(stored, false);
        continue;
      }
      const result = value.result;
      // A duplicate: the id was submitted before, or raced in through another device's chain.
      if (result.duplicate) {
        outcomes[index] = outcomeOf(result.message, true);
        continue;
      }
      state ??= this.stateOf(deviceId);
      const stored = result.message;
      this.emit(stored, 'accepted', stored.acceptedAt, null);
      for (const older of result.collapsed) {
        (superseded ??= new Set()).add(older.id);
        this.settled(older, 'collapsed', stored.id);
      }
      for (const older of result.overflowed) {
        (superseded ??= new Set()).add(older.id);
        this.settled(older, 'overflowed', stored.id);
      }
      if (result.overflowed.length > 0) tellOverflow(state, result.overflowed.length, this.logger);
      accepted.push({ index, message: stored });
    }

    if (state !== undefined) {
      const device = state;
      const gone = superseded;
      const all = accepted.map((a) => a.message);
      const fresh = gone === undefined ? all : all.filter((m) => !gone.has(m.id));
      const writeNow = this.clock.now();
      const written = this.writeDirect(device, fresh, writeNow);
      if (written.length < fresh.length) fellBehind(device);
      this.markSentLater(device, written, writeNow);
      await this.pump(device);
      for (const { index, message } of accepted) {
        const sent = device.inFlight.get(message.seq)?.id === message.id;
        outcomes[index] = {
          deviceId: message.deviceId,
          id: message.id,
          status: sent ? 'sent' : 'queued',
          duplicate: false,
          seq: message.seq,
        };
      }
    }

    if (failures !== undefined) await this.settleRefusals(deviceId, items, failures, outcomes);
    items.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome !== undefined) item.resolve(outcome);
      else item.reject(failures?.get(index) ?? new Error('internal error: a submit had no outcome'));
    });
  }

  /**
   * Outcomes for the submits whose store call was refused before it wrote anything: a conflicting reuse
   * of an id, or an unknown device (confirmed with one read). Other failures keep no outcome and reject.
   */
  private async settleRefusals(
    deviceId: string,
    items: readonly PendingSubmit[],
    failures: Map<number, unknown>,
    outcomes: (SendOutcome | undefined)[],
  ): Promise<void> {
    let unknown: boolean | undefined;
    for (const [index, reason] of failures) {
      const item = items[index];
      if (item === undefined) continue;
      if (reason instanceof MessageIdConflictError) {
        const conflict = { reason: reason.reason, message: reason.message };
        outcomes[index] = { deviceId, id: item.id, status: 'conflict', duplicate: false, conflict };
        continue;
      }
      unknown ??= (await this.store.getDevice(deviceId)) === undefined;
      if (unknown) outcomes[index] = { deviceId, id: item.id, status: 'unknown_device', duplicate: false };
    }
  }

  // ── feeding and acks ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes the device's deliverable backlog after its cursor, in seq order, as the connection can take it:
   * while it is writable and the in-flight window has room in count and in bytes. What was read from the
   * store but could not be written yet is kept (readAhead) for the next pump — the connection's drain,
   * or an ack — so a backlog of large pushes is read once. Runs inside the device's chain.
   */
  private async pump(state: DeviceState): Promise<void> {
    const session = state.session;
    if (session === undefined || !session.isOpen || !state.ready || this.closed) return;
    const now = this.clock.now();
    const written: StoredMessage[] = [];
    let refused = !this.writeAhead(state, session, now, written);
    if (
      !refused &&
      state.readAhead.length === 0 &&
      !state.caughtUp &&
      hasRoom(this.options, state, session)
    ) {
      const limit = readLimit(this.options, state);
      const batch = await this.store.deliverable(state.deviceId, state.cursor, now, limit);
      if (state.session === session && session.isOpen) {
        state.readAhead = batch;
        // A short read saw the whole backlog (no enqueue of this device can run meanwhile: same chain).
        state.readAheadComplete = batch.length < limit;
        refused = !this.writeAhead(state, session, now, written);
      }
    }
    if (!refused && state.readAhead.length === 0 && state.readAheadComplete) state.caughtUp = true;
    await this.markSent(state, written, now);
    if (state.session === session) watchStall(this, state, session);
  }

  /** Writes from readAhead while the session can take it; false when the session refused a push. */
  private writeAhead(state: DeviceState, session: DeviceSession, now: number, out: StoredMessage[]): boolean {
    while (state.readAhead.length > 0 && hasRoom(this.options, state, session)) {
      const message = state.readAhead[0];
      if (message === undefined) break;
      // Expired since it was read: deliverable() would skip it now; the sweep settles it.
      if (!isExpiredAt(message, now)) {
        if (!this.write(state, session, message, now)) {
          state.readAhead = [];
          state.readAheadComplete = false;
          return false;
        }
        out.push(message);
      }
      state.readAhead.shift();
    }
    return true;
  }

  /**
   * Writes the messages just enqueued straight from their enqueue results, in seq order, when the device
   * is caught up (so nothing older is waiting) and while the window has room. Returns those written; the
   * caller leaves the rest to the pump.
   */
  private writeDirect(state: DeviceState, messages: readonly StoredMessage[], now: number): StoredMessage[] {
    const written: StoredMessage[] = [];
    const session = state.session;
    if (session === undefined || !session.isOpen || !state.ready || !state.caughtUp || this.closed) {
      return written;
    }
    for (const message of messages) {
      if (!hasRoom(this.options, state, session)) break;
      // deliverable() would skip it; the pump then does, and the order stays that of the store.
      if (isExpiredAt(message, now)) break;
      // Another node may hold the seqs in between: the pump reads them, in order, from the store.
      if (this.sharedStore && message.seq !== state.cursor + 1) break;
      if (!this.write(state, session, message, now)) break;
      written.push(message);
    }
    return written;
  }

  /**
   * Writes one push and does its bookkeeping. False when the session refused it (it is then closed). A
   * push written again (an ack timeout's redelivery) moves to the end of the in-flight order.
   */
  private write(
    state: DeviceState,
    session: DeviceSession,
    message: StoredMessage,
    now: number,
    detail: string | null = null,
  ): boolean {
    const bytes = session.sendPush(toPush(message));
    if (bytes === 0) return false;
    leaveWindow(state, message.seq);
    state.inFlight.set(message.seq, { id: message.id, writtenAt: now, bytes });
    state.inFlightBytes += bytes;
    state.pushBytes = state.pushBytes === 0 ? bytes : (state.pushBytes * 7 + bytes) / 8;
    state.cursor = Math.max(state.cursor, message.seq);
    state.highestSent = Math.max(state.highestSent, message.seq);
    this.ackTimeouts.start(state);
    // Emitted as the push is written, so that a settle racing with markSent (the sweep) comes after it.
    this.emit(message, 'sent', now, detail);
    return true;
  }

  /**
   * Records directly written pushes as sent without holding up the submits or the device's chain. Safe
   * because the store runs operations in call order: every later read or ack of the device is queued
   * behind this markSent and sees it. What a submit promises holds without it — the message was
   * committed before it was written — and the push was on the wire before markSent even began (as it
   * always was), so a crash loses nothing a durable markSent would have kept. idle() and close() wait
   * for it; a failure is logged (the message then stays queued and is redelivered on reconnect).
   */
  private markSentLater(state: DeviceState, written: readonly StoredMessage[], now: number): void {
    if (written.length === 0) return;
    const marking: Promise<void> = this.markSent(state, written, now)
      .catch((error: unknown) => {
        if (!this.closed)
          this.logger?.error({ err: error, device: state.deviceId }, 'engine markSent failed');
      })
      .finally(() => this.marking.delete(marking));
    this.marking.add(marking);
  }

  /** Records written pushes as sent, in one store call. */
  private async markSent(state: DeviceState, written: readonly StoredMessage[], now: number): Promise<void> {
    if (written.length === 0) return;
    await this.store.markSent(
      state.deviceId,
      written.map((m) => m.seq),
      now,
    );
  }

  /** Acknowledges in the store, then settles waiters, timers and window slots. Runs inside the chain. */
  private async applyAck(
    state: DeviceState,
    ack: { ids?: string[] | undefined; through?: number | undefined },
  ): Promise<void> {
    let through = ack.through;
    if (through !== undefined && state.bounded && through > state.highestSent) through = state.highestSent;
    const input: { ids?: string[]; through?: number } = {};
    if (ack.ids !== undefined && ack.ids.length > 0) input.ids = ack.ids;
    if (through !== undefined && through > 0) input.through = through;
    if (input.ids === undefined && input.through === undefined) return;
    const acked = await this.store.acknowledge(state.deviceId, input, this.clock.now());
    for (const message of acked) this.settled(message, 'acked', null);
    if (input.through !== undefined) {
      for (const seq of [...state.inFlight.keys()]) if (seq <= input.through) leaveWindow(state, seq);
    }
    if (input.ids !== undefined) {
      const ids = new Set(input.ids);
      for (const [seq, entry] of [...state.inFlight]) if (ids.has(entry.id)) leaveWindow(state, seq);
    }
  }

  /** Bookkeeping for a message that reached a terminal state: receipt, ack timer, window slot, waiters. */
  private settled(message: StoredMessage, event: ReceiptEvent, detail: string | null): void {
    this.emit(message, event, message.settledAt ?? this.clock.now(), detail);
    // The device's ack timer stays: when it fires it finds nothing due and re-arms for what is left.
    const state = this.devices.get(message.deviceId);
    if (state === undefined) return;
    if (state.inFlight.get(message.seq)?.id === message.id) leaveWindow(state, message.seq);
    // A message read ahead and settled before it was written: read again rather than write it.
    const first = state.readAhead[0];
    const last = state.readAhead.at(-1);
    if (first !== undefined && last !== undefined && message.seq >= first.seq && message.seq <= last.seq) {
      state.readAhead = [];
      state.readAheadComplete = false;
    }
    this.waiters.settle(message.id, statusOfState(message.state));
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
        if (unsent > 0) tellExpired(this.stateOf(deviceId), unsent);
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
      state = newDeviceState(deviceId);
      this.devices.set(deviceId, state);
    }
    return state;
  }

  private schedulePump(deviceId: string): void {
    const state = this.devices.get(deviceId);
    if (state?.session === undefined) return;
    this.background(
      deviceId,
      'refill',
      () => this.pump(state),
      () => this.schedulePump(deviceId),
    );
  }

  /** Runs a fire-and-forget operation in the device's chain; failures are logged, never thrown. */
  /**
   * Runs a fire-and-forget operation in the device's chain; failures are logged, never thrown. When the
   * store was unavailable (Redis down or failing over) and a `retry` is given, it runs after
   * STORE_RETRY_MS, so that a connected device's acks and feeding recover by themselves once it is back.
   */
  private background(
    deviceId: string,
    what: string,
    operation: () => Promise<void>,
    retry?: () => void,
  ): void {
    if (this.closed) return;
    this.chain.run(deviceId, operation).catch((error: unknown) => {
      if (this.closed) return;
      const unavailable = isStoreUnavailable(error);
      if (unavailable)
        this.logger?.debug({ err: error, device: deviceId }, `engine ${what} failed; retrying`);
      else this.logger?.error({ err: error, device: deviceId }, `engine ${what} failed`);
      if (unavailable && retry !== undefined) this.retryLater(retry);
    });
  }

  /** Runs `retry` after STORE_RETRY_MS unless the engine closed meanwhile. */
  private retryLater(retry: () => void): void {
    if (this.closed) return;
    const handle = this.clock.setTimeout(() => {
      this.retryTimers.delete(handle);
      if (!this.closed) retry();
    }, STORE_RETRY_MS);
    this.retryTimers.add(handle);
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
