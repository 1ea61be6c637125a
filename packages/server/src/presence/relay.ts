/**
 * Routing across nodes: the delivery engine of one node of a cluster, as the HTTP API, the SSE feed and
 * the APNs router see it. The store is shared, so a push accepted on any node is durable there; what
 * must cross nodes is news:
 *
 * - every receipt this node's engine records is broadcast on the bus (batched per event-loop turn);
 * - a remote `accepted` receipt for a device whose session this node holds makes the engine feed that
 *   session from the store (`refill`) — the push reaches the node holding the device;
 * - remote receipts reach this node's receipt listeners (the SSE feed) and its ack waiters, so that
 *   `wait: true` and the APNs router's wait for the local ack answer the same whichever node the
 *   application server called, and the router falls back to APNs only when the device really did not
 *   acknowledge in time (one node decides: the one that was asked).
 *
 * Pub/sub may lose what was published while a node's subscription was down: when it comes back, every
 * local session is refilled and every pending waiter re-checks the store.
 */
import { randomUUID } from 'node:crypto';
import type { Ack, Clock } from '@localpush/protocol';
import { statusOfState } from '../engine/convert.js';
import type { DeliveryEngineImpl, SubmitHints } from '../engine/contracts.js';
import type { DeviceSession, MessageStatus, SendOutcome, SendRequest, SendStatus } from '../engine/types.js';
import { AckWaiters } from '../engine/waiters.js';
import type { ListOptions, Receipt, ReceiptEvent, StoredMessage } from '../store/types.js';
import type { BusMessage, ClusterBus } from './redis-bus.js';
import type { SessionDirectory } from './types.js';

/** What a terminal receipt means to someone waiting for the ack. */
const SETTLING: Partial<Record<ReceiptEvent, SendStatus>> = {
  acked: 'delivered',
  expired: 'expired',
  collapsed: 'expired',
  overflowed: 'expired',
  fallen_back: 'sent',
};

export interface ClusterRelayDeps {
  readonly engine: DeliveryEngineImpl;
  readonly presence: SessionDirectory;
  readonly bus: ClusterBus;
  readonly clock: Clock;
  readonly logger?: { error(obj: object, msg?: string): void };
}

/** The engine of a cluster node: this node's engine, plus the news from the others. */
export class ClusterRelay implements DeliveryEngineImpl {
  private readonly engine: DeliveryEngineImpl;
  private readonly waiters: AckWaiters;
  /** Ids with a pending waiter here, to re-check after a lost subscription. */
  private readonly waiting = new Map<string, number>();
  private readonly remoteListeners = new Set<(receipt: Receipt) => void>();
  private readonly stops: (() => void)[] = [];
  private closed = false;

  constructor(private readonly deps: ClusterRelayDeps) {
    this.engine = deps.engine;
    this.waiters = new AckWaiters(deps.clock);
    this.stops.push(
      this.engine.onReceipt((receipt) => {
        deps.bus.broadcast({ t: 'receipts', receipts: [receipt] });
        this.settleWaiters(receipt);
      }),
      deps.bus.onMessage((message) => this.onBus(message)),
      deps.bus.onResubscribed(() => void this.recheck()),
    );
  }

  // ── DeliveryEngine ────────────────────────────────────────────────────────────────────────────────

  submit(request: SendRequest): Promise<SendOutcome> {
    if (!this.mayBeHeldElsewhere(request)) return this.engine.submit(request);
    return this.hintsFor(request).then((hints) => this.engine.submit(request, hints));
  }

  /**
   * A now-or-never push for a device this node does not hold: the engine alone would expire it as
   * offline, so ask the directory whether another node holds it. Only these submits wait for Redis
   * first, so one of them may be stored after a later submit of the same turn to the same device.
   */
  private mayBeHeldElsewhere(request: SendRequest): boolean {
    return request.expiration === 0 && !this.engine.isOnline(request.deviceId);
  }

  private async hintsFor(request: SendRequest): Promise<SubmitHints | undefined> {
    // Redis unreachable: the submit fails on the store anyway; without a record the push expires as before.
    const record = await this.deps.presence.locate(request.deviceId).catch(() => undefined);
    return record !== undefined && record.node !== this.deps.presence.nodeId
      ? { onlineElsewhere: true }
      : undefined;
  }

  /** As the engine's, but the ack may be recorded on any node: the waiter hears every node's receipts. */
  async submitAndWait(request: SendRequest, timeoutMs: number): Promise<SendOutcome> {
    const id = request.id ?? randomUUID();
    const wait = this.waiters.wait(id, timeoutMs);
    this.waiting.set(id, (this.waiting.get(id) ?? 0) + 1);
    try {
      let outcome: SendOutcome;
      try {
        const submit = { ...request, id };
        outcome = await this.engine.submit(
          submit,
          this.mayBeHeldElsewhere(submit) ? await this.hintsFor(submit) : undefined,
        );
      } catch (error) {
        wait.cancel();
        throw error;
      }
      if (outcome.status !== 'sent' && outcome.status !== 'queued') {
        wait.cancel();
        return outcome;
      }
      return { ...outcome, status: await wait.promise };
    } finally {
      const left = (this.waiting.get(id) ?? 1) - 1;
      if (left > 0) this.waiting.set(id, left);
      else this.waiting.delete(id);
    }
  }

  status(messageId: string): Promise<MessageStatus | undefined> {
    return this.engine.status(messageId);
  }

  onReceipt(listener: (receipt: Receipt) => void): () => void {
    const local = this.engine.onReceipt(listener);
    this.remoteListeners.add(listener);
    return () => {
      local();
      this.remoteListeners.delete(listener);
    };
  }

  // ── the rest of the engine, as it is ──────────────────────────────────────────────────────────────

  onAckTimeout(listener: (message: StoredMessage) => void): () => void {
    return this.engine.onAckTimeout(listener);
  }

  fallBack(messageId: string, detail: string): Promise<StoredMessage | undefined> {
    return this.engine.fallBack(messageId, detail);
  }

  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]> {
    return this.engine.listMessages(deviceId, options);
  }

  isOnline(deviceId: string): boolean {
    return this.engine.isOnline(deviceId);
  }

  refill(deviceId: string): void {
    this.engine.refill(deviceId);
  }

  get waiterCount(): number {
    return this.engine.waiterCount + this.waiters.size;
  }

  idle(): Promise<void> {
    return this.engine.idle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.stops) stop();
    this.waiters.settleAll('timeout');
    await this.engine.close();
  }

  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void {
    this.engine.sessionOpened(session, resumeThrough);
  }

  sessionClosed(session: DeviceSession): void {
    this.engine.sessionClosed(session);
  }

  ackReceived(session: DeviceSession, ack: Ack): boolean {
    return this.engine.ackReceived(session, ack);
  }

  sessionWritable(session: DeviceSession): void {
    this.engine.sessionWritable(session);
  }

  // ── news from other nodes ─────────────────────────────────────────────────────────────────────────

  private onBus(message: BusMessage): void {
    if (message.t !== 'receipts' || this.closed) return;
    for (const receipt of message.receipts) {
      // Accepted elsewhere for a device connected here: this node writes it to the device.
      if (receipt.event === 'accepted' && this.deps.presence.local(receipt.deviceId) !== undefined) {
        this.engine.refill(receipt.deviceId);
      }
      this.settleWaiters(receipt);
      for (const listener of [...this.remoteListeners]) {
        try {
          listener(receipt);
        } catch (error) {
          this.deps.logger?.error({ err: error }, 'receipt listener failed');
        }
      }
    }
  }

  private settleWaiters(receipt: Receipt): void {
    const status = SETTLING[receipt.event];
    if (status !== undefined) this.waiters.settle(receipt.messageId, status);
  }

  /** After a gap in the subscription: feed every local session, settle waiters whose message settled. */
  private async recheck(): Promise<void> {
    for (const session of this.deps.presence.sessions()) this.engine.refill(session.deviceId);
    for (const id of [...this.waiting.keys()]) {
      try {
        const state = (await this.engine.status(id))?.message.state;
        if (state !== undefined && state !== 'queued' && state !== 'sent' && state !== 'fallen_back') {
          this.waiters.settle(id, statusOfState(state));
        }
      } catch {
        // The store is away too: the waiter's deadline still holds.
      }
    }
  }
}
