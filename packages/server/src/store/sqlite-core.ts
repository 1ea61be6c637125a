/**
 * The Store operations as synchronous SQL over one better-sqlite3 connection. Statements are prepared
 * once, here. Nothing in this file opens or commits transactions: sqlite.ts runs these methods inside
 * its group-commit transaction, so each method only has to be correct given that it runs atomically.
 *
 * A method that refuses its input (a duplicate device, an unknown device) must throw before it writes
 * anything, because the batch it runs in carries on with the other operations.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { JsonValue, PushKind, PushPriority } from '@localpush/protocol';
import { ServerErrorCode, StoreError } from '../errors.js';
import { SqliteApnsTokens } from './sqlite-tokens.js';
import { assertDuplicate, effectiveQueueBound, receiptsOf, unknownDeviceError } from './rules.js';
import {
  ZERO_EXPIRATION_GRACE_MS,
  type AckInput,
  type DeviceRecord,
  type EnqueueOptions,
  type EnqueueResult,
  type ListOptions,
  type MessageState,
  type NewMessage,
  type Receipt,
  type StoredMessage,
} from './types.js';

interface DeviceRow {
  id: string;
  credential_hash: string;
  label: string | null;
  created_at: number;
}

interface MessageRow {
  id: string;
  device_id: string;
  seq: number;
  kind: string;
  payload: string;
  priority: number;
  expiration: number;
  collapse_id: string | null;
  accepted_at: number;
  state: string;
  sent_at: number | null;
  settled_at: number | null;
  /** The terminal receipt's detail (what collapsed or overflowed it, the fallback path). */
  settled_detail: string | null;
}

const PENDING = `state IN ('queued', 'sent')`;
/** The same test as rules.ts isExpiredAt, with @nowSec = floor(now / 1000) so the expiry index is usable. */
const EXPIRED_AT = `((expiration > 0 AND expiration <= @nowSec) OR (expiration = 0 AND accepted_at <= @zeroCutoff))`;

type Stmt<R = unknown> = Statement<unknown[], R>;

/** The SQL behind the Store methods; see the class comment at the top of the file. */
export class SqliteCore {
  private readonly s: ReturnType<typeof prepareAll>;
  /** The APNs token registrations, in the same file so that a device and its tokens go in one commit. */
  readonly tokens: SqliteApnsTokens;

  constructor(db: Database) {
    this.s = prepareAll(db);
    this.tokens = new SqliteApnsTokens(db);
  }

  addDevice(device: DeviceRecord): void {
    if (this.s.deviceExists.get(device.id) !== undefined) {
      throw new StoreError(
        ServerErrorCode.STORE_DEVICE_EXISTS,
        `device "${device.id}" is already registered`,
      );
    }
    this.s.insertDevice.run(device.id, device.credentialHash, device.label, device.createdAt);
    this.s.initSequence.run(device.id);
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.s.getDevice.get(id);
    return row === undefined ? undefined : toDevice(row);
  }

  listDevices(): DeviceRecord[] {
    return this.s.listDevices.all().map(toDevice);
  }

  removeDevice(id: string): boolean {
    if (this.s.deviceExists.get(id) === undefined) return false;
    this.s.deleteDeviceReceipts.run(id);
    this.s.deleteDeviceMessages.run(id);
    this.tokens.removeDevice(id);
    this.s.deleteDevice.run(id);
    return true;
  }

  enqueue(input: NewMessage, options: EnqueueOptions): EnqueueResult {
    const existing = this.s.getMessage.get(input.id);
    if (existing !== undefined) {
      const stored = toMessage(existing);
      assertDuplicate(stored, input);
      return { message: stored, duplicate: true, collapsed: [], overflowed: [] };
    }
    const message = this.insert(input, 'queued', null);

    let collapsed: StoredMessage[] = [];
    if (message.collapseId !== null) {
      collapsed = this.s.collapse
        .all({
          deviceId: message.deviceId,
          collapseId: message.collapseId,
          seq: message.seq,
          at: message.acceptedAt,
          detail: message.id,
        })
        .map(toMessage)
        .sort(bySeq);
    }

    const overflowed: StoredMessage[] = [];
    const bound = effectiveQueueBound(options.maxQueuePerDevice);
    // Seqs are dense per device, so the pending messages all lie between the oldest pending one and this
    // one: when that span fits the bound, no count is needed. Counting scanned a deep offline queue
    // (up to the bound) on every enqueue; the span is one index seek.
    const oldest = this.s.oldestPendingSeq.get(message.deviceId) ?? message.seq;
    const excess = message.seq - oldest + 1 <= bound ? 0 : this.pendingCount(message.deviceId) - bound;
    if (excess > 0) {
      for (const row of this.s.oldestPending.all(message.deviceId, message.seq, excess)) {
        const settled = this.s.settle.get({
          id: row.id,
          state: 'overflowed',
          at: message.acceptedAt,
          detail: message.id,
        });
        if (settled !== undefined) overflowed.push(toMessage(settled));
      }
    }
    return { message, duplicate: false, collapsed, overflowed };
  }

  recordExpired(input: NewMessage, at: number): StoredMessage {
    const existing = this.s.getMessage.get(input.id);
    if (existing !== undefined) {
      const stored = toMessage(existing);
      assertDuplicate(stored, input);
      return stored;
    }
    return this.insert(input, 'expired', at);
  }

  deliverable(deviceId: string, afterSeq: number, now: number, limit: number): StoredMessage[] {
    if (limit <= 0) return [];
    return this.s.deliverable.all({ deviceId, afterSeq, limit, ...cutoffs(now) }).map(toMessage);
  }

  markSent(deviceId: string, seqs: readonly number[], at: number): void {
    for (const seq of seqs) {
      // The first send is the row's sent_at; only a send after it (a redelivery) needs a receipt row.
      if (this.s.markFirstSent.run(at, deviceId, seq).changes > 0) continue;
      const resent = this.s.markResent.get({ deviceId, seq });
      if (resent !== undefined) this.s.insertReceipt.run(resent, deviceId, 'sent', at, null);
    }
  }

  acknowledge(deviceId: string, ack: AckInput, at: number): StoredMessage[] {
    const acked: StoredMessage[] = [];
    for (const id of ack.ids ?? []) {
      const row = this.s.ackById.get({ id, deviceId, at });
      if (row !== undefined) acked.push(toMessage(row));
    }
    if (ack.through !== undefined) {
      for (const row of this.s.ackThrough.all({ deviceId, through: ack.through, at }))
        acked.push(toMessage(row));
    }
    return acked.sort(bySeq);
  }

  expireDue(now: number): StoredMessage[] {
    const expired = this.s.expireDue.all({ at: now, ...cutoffs(now) }).map(toMessage);
    return expired.sort((a, b) =>
      a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.seq - b.seq,
    );
  }

  markFallenBack(messageId: string, at: number, detail: string): StoredMessage | undefined {
    const row = this.s.settle.get({ id: messageId, state: 'fallen_back', at, detail });
    return row === undefined ? undefined : toMessage(row);
  }

  getMessage(id: string): StoredMessage | undefined {
    const row = this.s.getMessage.get(id);
    return row === undefined ? undefined : toMessage(row);
  }

  listMessages(deviceId: string, options: ListOptions): StoredMessage[] {
    if (options.limit <= 0) return [];
    const beforeSeq = options.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    return this.s.listMessages.all({ deviceId, beforeSeq, limit: options.limit }).map(toMessage);
  }

  /** A message's receipts, rebuilt from its row and the rows of its redeliveries (see receiptsOf). */
  receipts(messageId: string): Receipt[] {
    const row = this.s.getMessage.get(messageId);
    if (row === undefined) return [];
    const redeliveries = this.s.redeliveries.all(messageId).map((r) => r.at);
    return receiptsOf(
      {
        id: row.id,
        deviceId: row.device_id,
        acceptedAt: row.accepted_at,
        sentAt: row.sent_at,
        settledAt: row.settled_at,
        state: row.state as MessageState,
      },
      redeliveries,
      row.settled_detail,
    );
  }

  pendingCount(deviceId: string): number {
    return this.s.pendingCount.get(deviceId) ?? 0;
  }

  /** Stores a new message with the device's next seq; throws before writing when the device is unknown. */
  private insert(input: NewMessage, state: MessageState, settledAt: number | null): StoredMessage {
    // One statement takes the next seq and checks that the device exists (its sequence row outlives it).
    const seq = this.s.nextSeq.get(input.deviceId, input.deviceId);
    if (seq === undefined) throw unknownDeviceError(input.deviceId);
    const payload = JSON.stringify(input.payload);
    this.s.insertMessage.run({
      id: input.id,
      deviceId: input.deviceId,
      seq,
      kind: input.kind,
      payload,
      priority: input.priority,
      expiration: input.expiration,
      collapseId: input.collapseId,
      acceptedAt: input.acceptedAt,
      state,
      settledAt,
    });
    // Its payload is a private copy, as from the memory store: the caller may go on changing its object.
    return toMessage({
      id: input.id,
      device_id: input.deviceId,
      seq,
      kind: input.kind,
      payload,
      priority: input.priority,
      expiration: input.expiration,
      collapse_id: input.collapseId,
      accepted_at: input.acceptedAt,
      state,
      sent_at: null,
      settled_at: settledAt,
      settled_detail: null,
    });
  }
}

function prepareAll(db: Database) {
  const stmt = <R>(sql: string): Stmt<R> => db.prepare<unknown[], R>(sql);
  const messageColumns =
    'id, device_id, seq, kind, payload, priority, expiration, collapse_id, accepted_at, state, sent_at, settled_at, settled_detail';
  return {
    deviceExists: stmt<{ one: number }>('SELECT 1 AS one FROM devices WHERE id = ?'),
    insertDevice: stmt('INSERT INTO devices (id, credential_hash, label, created_at) VALUES (?, ?, ?, ?)'),
    initSequence: stmt('INSERT OR IGNORE INTO sequences (device_id, last_seq) VALUES (?, 0)'),
    getDevice: stmt<DeviceRow>('SELECT * FROM devices WHERE id = ?'),
    listDevices: stmt<DeviceRow>('SELECT * FROM devices ORDER BY id'),
    deleteDeviceReceipts: stmt(
      'DELETE FROM receipts WHERE message_id IN (SELECT id FROM messages WHERE device_id = ?)',
    ),
    deleteDeviceMessages: stmt('DELETE FROM messages WHERE device_id = ?'),
    deleteDevice: stmt('DELETE FROM devices WHERE id = ?'),
    nextSeq: stmt<number>(
      `UPDATE sequences SET last_seq = last_seq + 1
        WHERE device_id = ? AND EXISTS (SELECT 1 FROM devices WHERE id = ?) RETURNING last_seq`,
    ).pluck(),
    insertMessage: stmt(
      `INSERT INTO messages (${messageColumns}) VALUES (@id, @deviceId, @seq, @kind, @payload, @priority,
        @expiration, @collapseId, @acceptedAt, @state, NULL, @settledAt, NULL)`,
    ),
    getMessage: stmt<MessageRow>(`SELECT ${messageColumns} FROM messages WHERE id = ?`),
    collapse: stmt<MessageRow>(
      `UPDATE messages SET state = 'collapsed', settled_at = @at, settled_detail = @detail
        WHERE device_id = @deviceId AND collapse_id = @collapseId AND seq < @seq AND ${PENDING}
        RETURNING ${messageColumns}`,
    ),
    pendingCount: stmt<number>(`SELECT count(*) FROM messages WHERE device_id = ? AND ${PENDING}`).pluck(),
    oldestPendingSeq: stmt<number>(
      `SELECT seq FROM messages WHERE device_id = ? AND ${PENDING} ORDER BY seq LIMIT 1`,
    ).pluck(),
    oldestPending: stmt<{ id: string }>(
      `SELECT id FROM messages WHERE device_id = ? AND ${PENDING} AND seq <> ? ORDER BY seq LIMIT ?`,
    ),
    settle: stmt<MessageRow>(
      `UPDATE messages SET state = @state, settled_at = @at, settled_detail = @detail
        WHERE id = @id AND ${PENDING}
        RETURNING ${messageColumns}`,
    ),
    deliverable: stmt<MessageRow>(
      `SELECT ${messageColumns} FROM messages
        WHERE device_id = @deviceId AND ${PENDING} AND seq > @afterSeq
          AND NOT (expiration = 0 AND state = 'sent') AND NOT ${EXPIRED_AT}
        ORDER BY seq LIMIT @limit`,
    ),
    // The first send sets sent_at; a later one leaves it and is recorded as a receipt row.
    markFirstSent: stmt(
      `UPDATE messages SET state = 'sent', sent_at = ? WHERE device_id = ? AND seq = ? AND state = 'queued'`,
    ),
    markResent: stmt<string>(
      `SELECT id FROM messages WHERE device_id = @deviceId AND seq = @seq AND state = 'sent'`,
    ).pluck(),
    ackById: stmt<MessageRow>(
      `UPDATE messages SET state = 'acked', settled_at = @at WHERE id = @id AND device_id = @deviceId AND ${PENDING}
        RETURNING ${messageColumns}`,
    ),
    ackThrough: stmt<MessageRow>(
      `UPDATE messages SET state = 'acked', settled_at = @at
        WHERE device_id = @deviceId AND seq <= @through AND ${PENDING} RETURNING ${messageColumns}`,
    ),
    expireDue: stmt<MessageRow>(
      `UPDATE messages SET state = 'expired', settled_at = @at WHERE ${PENDING} AND ${EXPIRED_AT}
        RETURNING ${messageColumns}`,
    ),
    listMessages: stmt<MessageRow>(
      `SELECT ${messageColumns} FROM messages WHERE device_id = @deviceId AND seq < @beforeSeq
        ORDER BY seq DESC LIMIT @limit`,
    ),
    insertReceipt: stmt(
      'INSERT INTO receipts (message_id, device_id, event, at, detail) VALUES (?, ?, ?, ?, ?)',
    ),
    redeliveries: stmt<{ at: number }>('SELECT at FROM receipts WHERE message_id = ? ORDER BY at, id'),
  };
}

/** Parameters for EXPIRED_AT. expiration*1000 <= now ⇔ expiration <= floor(now/1000) for whole seconds. */
function cutoffs(now: number): { nowSec: number; zeroCutoff: number } {
  return { nowSec: Math.floor(now / 1000), zeroCutoff: now - ZERO_EXPIRATION_GRACE_MS };
}

function toDevice(row: DeviceRow): DeviceRecord {
  return { id: row.id, credentialHash: row.credential_hash, label: row.label, createdAt: row.created_at };
}

/**
 * The message of a row. Its payload is parsed from the stored JSON the first time it is read: most
 * messages the store hands out are never looked into — an acknowledge returns every message it settled,
 * an expiry sweep every one it expired — and parsing each would be work and garbage for nothing. To
 * every reader (spread, JSON.stringify, deepEqual) the payload is an ordinary enumerable property; a
 * write to it replaces it, as on a plain object.
 */
function toMessage(row: MessageRow): StoredMessage {
  const json = row.payload;
  let payload: JsonValue | undefined;
  let parsed = false;
  // One literal (not a spread, not defineProperty), so that every message has the same shape.
  return {
    id: row.id,
    deviceId: row.device_id,
    kind: row.kind as PushKind,
    get payload(): JsonValue {
      if (!parsed) {
        payload = JSON.parse(json) as JsonValue;
        parsed = true;
      }
      return payload as JsonValue;
    },
    set payload(value: JsonValue) {
      payload = value;
      parsed = true;
    },
    priority: row.priority as PushPriority,
    expiration: row.expiration,
    collapseId: row.collapse_id,
    acceptedAt: row.accepted_at,
    seq: row.seq,
    state: row.state as MessageState,
    sentAt: row.sent_at,
    settledAt: row.settled_at,
  };
}

function bySeq(a: StoredMessage, b: StoredMessage): number {
  return a.seq - b.seq;
}
