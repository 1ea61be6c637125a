/**
 * The in-memory store: everything in maps, lost on restart. For tests, development and `--store memory`.
 * Each method runs synchronously to completion inside its async body, so every operation is atomic with
 * respect to the others without any locking.
 */
import type { JsonValue } from '@localpush/protocol';
import { ServerErrorCode, StoreError } from '../errors.js';
import {
  assertDuplicate,
  byToken,
  closedError,
  effectiveQueueBound,
  isDeliverable,
  isExpiredAt,
  isUndelivered,
  normalizedApnsToken,
  receiptsOf,
  unknownDeviceError,
} from './rules.js';
import type {
  AckInput,
  ApnsTokenRecord,
  DeviceRecord,
  EnqueueOptions,
  EnqueueResult,
  ListOptions,
  MessageState,
  NewMessage,
  Receipt,
  ReceiptEvent,
  Store,
  StoredMessage,
} from './types.js';

/** Per-device indexes: every message in seq order, and the undelivered ones in seq order. */
interface DeviceQueue {
  /** All messages of the device, ascending seq (append-only, since seqs only grow). */
  all: StoredMessage[];
  /** Queued or sent messages, ascending seq; at most maxQueuePerDevice long, so splicing is cheap. */
  pending: StoredMessage[];
}

/** Creates an empty in-memory store. */
export function createMemoryStore(): Store {
  return new MemoryStore();
}

class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly queues = new Map<string, DeviceQueue>();
  /** Last seq handed out per device id; kept after removeDevice so that seqs are never reused. */
  private readonly lastSeq = new Map<string, number>();
  private readonly messages = new Map<string, StoredMessage>();
  /**
   * What a message's own fields cannot say about its receipts, as in the SQLite store (schema 2): the
   * times of its sends after the first, and its terminal receipt's detail. The rest — accepted, the
   * first send, the terminal event — is rebuilt from the message, so a delivered message keeps no
   * receipt objects at all.
   */
  private readonly redeliveries = new Map<string, number[]>();
  private readonly settledDetails = new Map<string, string>();
  /** APNs registrations by lower-case token. */
  private readonly apnsTokens = new Map<string, ApnsTokenRecord>();
  private closed = false;

  addDevice(device: DeviceRecord): Promise<void> {
    return this.run(() => {
      if (this.devices.has(device.id)) {
        throw new StoreError(
          ServerErrorCode.STORE_DEVICE_EXISTS,
          `device "${device.id}" is already registered`,
        );
      }
      this.devices.set(device.id, { ...device });
      this.queues.set(device.id, { all: [], pending: [] });
    });
  }

  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.run(() => {
      const device = this.devices.get(id);
      return device === undefined ? undefined : { ...device };
    });
  }

  listDevices(): Promise<DeviceRecord[]> {
    return this.run(() => {
      return [...this.devices.values()].sort((a, b) => compareStrings(a.id, b.id)).map((d) => ({ ...d }));
    });
  }

  removeDevice(id: string): Promise<boolean> {
    return this.run(() => {
      const queue = this.queues.get(id);
      if (!this.devices.delete(id) || queue === undefined) return false;
      for (const message of queue.all) {
        this.messages.delete(message.id);
        this.redeliveries.delete(message.id);
        this.settledDetails.delete(message.id);
      }
      this.queues.delete(id);
      for (const [token, record] of this.apnsTokens) {
        if (record.deviceId === id) this.apnsTokens.delete(token);
      }
      return true;
    });
  }

  enqueue(input: NewMessage, options: EnqueueOptions): Promise<EnqueueResult> {
    return this.run(() => {
      const existing = this.messages.get(input.id);
      if (existing !== undefined) {
        assertDuplicate(existing, input);
        return { message: copy(existing), duplicate: true, collapsed: [], overflowed: [] };
      }
      const queue = this.queueOf(input.deviceId);
      const message = this.insert(input, 'queued', null);

      const collapsed: StoredMessage[] = [];
      if (message.collapseId !== null) {
        for (const older of [...queue.pending]) {
          if (older.collapseId === message.collapseId) {
            this.settle(queue, older, 'collapsed', message.acceptedAt, message.id);
            collapsed.push(copy(older));
          }
        }
      }
      queue.pending.push(message);

      const overflowed: StoredMessage[] = [];
      const bound = effectiveQueueBound(options.maxQueuePerDevice);
      while (queue.pending.length > bound) {
        const oldest = queue.pending[0];
        if (oldest === undefined || oldest === message) break;
        this.settle(queue, oldest, 'overflowed', message.acceptedAt, message.id);
        overflowed.push(copy(oldest));
      }
      return { message: copy(message), duplicate: false, collapsed, overflowed };
    });
  }

  recordExpired(input: NewMessage, at: number): Promise<StoredMessage> {
    return this.run(() => {
      const existing = this.messages.get(input.id);
      if (existing !== undefined) {
        assertDuplicate(existing, input);
        return copy(existing);
      }
      this.queueOf(input.deviceId);
      return copy(this.insert(input, 'expired', at));
    });
  }

  deliverable(deviceId: string, afterSeq: number, now: number, limit: number): Promise<StoredMessage[]> {
    return this.run(() => {
      const result: StoredMessage[] = [];
      const queue = this.queues.get(deviceId);
      if (queue === undefined) return result;
      for (const message of queue.pending) {
        if (result.length >= limit) break;
        if (message.seq > afterSeq && isDeliverable(message, now)) result.push(copy(message));
      }
      return result;
    });
  }

  markSent(deviceId: string, seqs: readonly number[], at: number): Promise<void> {
    return this.run(() => {
      const queue = this.queues.get(deviceId);
      if (queue === undefined) return;
      for (const seq of seqs) {
        const message = findBySeq(queue.pending, seq);
        if (message === undefined) continue;
        if (message.state === 'queued') {
          message.state = 'sent';
          message.sentAt = at;
          continue;
        }
        const times = this.redeliveries.get(message.id);
        if (times === undefined) this.redeliveries.set(message.id, [at]);
        else times.push(at);
      }
    });
  }

  acknowledge(deviceId: string, ack: AckInput, at: number): Promise<StoredMessage[]> {
    return this.run(() => {
      const queue = this.queues.get(deviceId);
      if (queue === undefined) return [];
      const targets = new Set<StoredMessage>();
      for (const id of ack.ids ?? []) {
        const message = this.messages.get(id);
        if (message !== undefined && message.deviceId === deviceId && isUndelivered(message.state)) {
          targets.add(message);
        }
      }
      if (ack.through !== undefined) {
        for (const message of queue.pending) {
          if (message.seq > ack.through) break;
          targets.add(message);
        }
      }
      const acked = [...targets].sort((a, b) => a.seq - b.seq);
      for (const message of acked) this.settle(queue, message, 'acked', at, null);
      return acked.map(copy);
    });
  }

  expireDue(now: number): Promise<StoredMessage[]> {
    return this.run(() => {
      const expired: StoredMessage[] = [];
      for (const queue of this.queues.values()) {
        for (const message of [...queue.pending]) {
          if (isExpiredAt(message, now)) {
            this.settle(queue, message, 'expired', now, null);
            expired.push(copy(message));
          }
        }
      }
      // Same order as SQLite: by device id, then seq.
      return expired.sort((a, b) => compareStrings(a.deviceId, b.deviceId) || a.seq - b.seq);
    });
  }

  markFallenBack(messageId: string, at: number, detail: string): Promise<StoredMessage | undefined> {
    return this.run(() => {
      const message = this.messages.get(messageId);
      const queue = message === undefined ? undefined : this.queues.get(message.deviceId);
      if (message === undefined || queue === undefined || !isUndelivered(message.state)) return undefined;
      this.settle(queue, message, 'fallen_back', at, detail);
      return copy(message);
    });
  }

  prune(before: number, limit: number): Promise<number> {
    return this.run(() => {
      const pruned = new Set<string>();
      const devices = new Set<string>();
      // Map order is acceptance order; a message settled late is pruned by a later batch, not skipped.
      for (const message of this.messages.values()) {
        if (pruned.size >= limit) break;
        if (message.settledAt === null || isUndelivered(message.state) || message.settledAt > before)
          continue;
        pruned.add(message.id);
        devices.add(message.deviceId);
      }
      for (const id of pruned) {
        this.messages.delete(id);
        this.redeliveries.delete(id);
        this.settledDetails.delete(id);
      }
      for (const deviceId of devices) {
        const queue = this.queues.get(deviceId);
        if (queue !== undefined) queue.all = queue.all.filter((m) => !pruned.has(m.id));
      }
      return pruned.size;
    });
  }

  getMessage(id: string): Promise<StoredMessage | undefined> {
    return this.run(() => {
      const message = this.messages.get(id);
      return message === undefined ? undefined : copy(message);
    });
  }

  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]> {
    return this.run(() => {
      const queue = this.queues.get(deviceId);
      const result: StoredMessage[] = [];
      if (queue === undefined) return result;
      const before = options.beforeSeq ?? Number.POSITIVE_INFINITY;
      for (let i = lowerBound(queue.all, before) - 1; i >= 0 && result.length < options.limit; i--) {
        const message = queue.all[i];
        if (message !== undefined) result.push(copy(message));
      }
      return result;
    });
  }

  receipts(messageId: string): Promise<Receipt[]> {
    return this.run(() => {
      const message = this.messages.get(messageId);
      if (message === undefined) return [];
      return receiptsOf(
        message,
        this.redeliveries.get(messageId) ?? [],
        this.settledDetails.get(messageId) ?? null,
      );
    });
  }

  pendingCount(deviceId: string): Promise<number> {
    return this.run(() => {
      return this.queues.get(deviceId)?.pending.length ?? 0;
    });
  }

  registerApnsToken(record: ApnsTokenRecord): Promise<void> {
    return this.run(() => {
      if (!this.devices.has(record.deviceId)) throw unknownDeviceError(record.deviceId, 'an APNs token');
      const normalized = normalizedApnsToken(record);
      this.apnsTokens.set(normalized.token, normalized);
    });
  }

  apnsToken(token: string): Promise<ApnsTokenRecord | undefined> {
    return this.run(() => {
      const record = this.apnsTokens.get(token.toLowerCase());
      return record === undefined ? undefined : { ...record };
    });
  }

  apnsTokensOf(deviceId: string): Promise<ApnsTokenRecord[]> {
    return this.run(() =>
      [...this.apnsTokens.values()]
        .filter((record) => record.deviceId === deviceId)
        .map((record) => ({ ...record }))
        .sort(byToken),
    );
  }

  removeApnsToken(token: string): Promise<boolean> {
    return this.run(() => this.apnsTokens.delete(token.toLowerCase()));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Runs one operation to completion; a throw becomes a rejection, as from a real async backend. */
  private run<T>(operation: () => T): Promise<T> {
    try {
      if (this.closed) throw closedError(this.kind);
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private queueOf(deviceId: string): DeviceQueue {
    const queue = this.queues.get(deviceId);
    if (queue === undefined) throw unknownDeviceError(deviceId);
    return queue;
  }

  /** Stores a new message with the device's next seq. */
  private insert(input: NewMessage, state: MessageState, settledAt: number | null): StoredMessage {
    const seq = (this.lastSeq.get(input.deviceId) ?? 0) + 1;
    this.lastSeq.set(input.deviceId, seq);
    const message: StoredMessage = {
      id: input.id,
      deviceId: input.deviceId,
      kind: input.kind,
      // A frozen private copy: the caller may reuse its object, and copies handed out can share it safely.
      payload: deepFreeze(structuredClone(input.payload)),
      priority: input.priority,
      expiration: input.expiration,
      collapseId: input.collapseId,
      acceptedAt: input.acceptedAt,
      seq,
      state,
      sentAt: null,
      settledAt,
    };
    this.messages.set(message.id, message);
    this.queueOf(message.deviceId).all.push(message);
    return message;
  }

  /** Moves an undelivered message to a terminal state, out of the pending list, with its receipt. */
  private settle(
    queue: DeviceQueue,
    message: StoredMessage,
    state: MessageState & ReceiptEvent,
    at: number,
    detail: string | null,
  ): void {
    message.state = state;
    message.settledAt = at;
    const index = queue.pending.indexOf(message);
    if (index >= 0) queue.pending.splice(index, 1);
    if (detail !== null) this.settledDetails.set(message.id, detail);
  }
}

function copy(message: StoredMessage): StoredMessage {
  return { ...message };
}

function deepFreeze(value: JsonValue): JsonValue {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Index of the first message with seq >= target in an ascending list. */
function lowerBound(messages: readonly StoredMessage[], target: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((messages[mid]?.seq ?? Number.POSITIVE_INFINITY) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function findBySeq(messages: readonly StoredMessage[], seq: number): StoredMessage | undefined {
  const message = messages[lowerBound(messages, seq)];
  return message?.seq === seq ? message : undefined;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
