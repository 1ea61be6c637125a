/**
 * The storage interface. Every backend (memory, SQLite, later Redis) implements it and passes the one
 * conformance suite in test/store/conformance.ts. All methods are async so that network backends fit.
 *
 * Times are milliseconds since the UNIX epoch, always passed in by the caller (the engine's injected
 * clock), never read from Date.now() inside a store — that keeps stores deterministic under test.
 */
import type { JsonValue, PushKind, PushPriority } from '@localpush/protocol';

/** A registered device. The credential itself is never stored, only its hash. */
export interface DeviceRecord {
  id: string;
  /** SHA-256 of the credential, lower-case hex. Credentials are 256-bit random, so no slow hash is needed. */
  credentialHash: string;
  label: string | null;
  createdAt: number;
}

/** Where a message is in its life. Terminal states: acked, expired, collapsed, overflowed, fallen_back. */
export const MESSAGE_STATES = [
  'queued',
  'sent',
  'acked',
  'expired',
  'collapsed',
  'overflowed',
  'fallen_back',
] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

/** The events of a message's life, as recorded in receipts. `accepted` is first; one terminal event last. */
export const RECEIPT_EVENTS = [
  'accepted',
  'sent',
  'acked',
  'expired',
  'collapsed',
  'overflowed',
  'fallen_back',
] as const;
export type ReceiptEvent = (typeof RECEIPT_EVENTS)[number];

/** A message as submitted, before the store gives it a sequence number. */
export interface NewMessage {
  /**
   * Globally unique. Submitting the same id again for the same device with the same content is the same
   * message (idempotent: a duplicate); for another device or with other content it is refused with
   * STORE_MESSAGE_ID_CONFLICT (see `messageIdConflict` in rules.ts).
   */
  id: string;
  deviceId: string;
  kind: PushKind;
  payload: JsonValue;
  priority: PushPriority;
  /**
   * UNIX seconds, as on the wire and in APNs. 0 = deliver now or never: it is sent at most once and never
   * redelivered after a reconnect.
   */
  expiration: number;
  collapseId: string | null;
  acceptedAt: number;
  /**
   * True when `expiration` is the server's default (the sender gave none). Not stored: it only tells the
   * id rule that a retry without an expiration matches whatever expiration the first copy got.
   */
  defaultExpiration?: boolean;
}

export interface StoredMessage extends Omit<NewMessage, 'defaultExpiration'> {
  /** Per-device sequence, 1, 2, 3… in acceptance order; never reused, even after collapse or overflow. */
  seq: number;
  state: MessageState;
  sentAt: number | null;
  /** When the message reached a terminal state. */
  settledAt: number | null;
}

export interface Receipt {
  messageId: string;
  deviceId: string;
  event: ReceiptEvent;
  at: number;
  /** Extra context: the id that collapsed this one, the delivery path, … */
  detail: string | null;
}

/**
 * How long an expiration-0 ("now or never") message may stay undelivered before expireDue settles it as
 * expired. It is sent at most once, so without this it would sit in state `sent` forever when the device
 * never acks it, counting against the queue bound. The grace also covers the short window between
 * enqueue and markSent, so that a periodic sweep cannot expire a message that is being written right now.
 */
export const ZERO_EXPIRATION_GRACE_MS = 60_000;

export interface EnqueueOptions {
  /** Largest number of undelivered (queued or sent) messages kept per device; the oldest go first. */
  maxQueuePerDevice: number;
}

export interface EnqueueResult {
  message: StoredMessage;
  /**
   * True when a message with this id existed already for the same device with the same content: nothing
   * changed and `message` is the existing one. (Any other reuse of the id is rejected, see NewMessage.id.)
   */
  duplicate: boolean;
  /** Older undelivered messages of the same device and collapse id, now in state `collapsed`. */
  collapsed: StoredMessage[];
  /** The oldest undelivered messages dropped to make room, now in state `overflowed`. */
  overflowed: StoredMessage[];
}

export interface AckInput {
  ids?: string[];
  /** Cumulative: every message of the device with seq <= through. */
  through?: number;
}

export interface ListOptions {
  limit: number;
  /** Only messages with seq < beforeSeq (for paging backwards through a device's history). */
  beforeSeq?: number;
}

/** Which APNs environment issued a device token (a sandbox token is unknown to production and vice versa). */
export type ApnsTokenEnvironment = 'production' | 'development';

/**
 * One APNs token registration: which local device a token belongs to, so that a provider's
 * `POST /3/device/<token>` reaches the device's localpush connection. A device may hold several tokens
 * (several apps, or both environments); a token belongs to one device at a time.
 */
export interface ApnsTokenRecord {
  /** Lower-case hex device token. Stores lower-case whatever they are given, and look up case-insensitively. */
  readonly token: string;
  readonly deviceId: string;
  /** The app's bundle id (the topic without any push-type suffix). */
  readonly bundleId: string;
  readonly environment: ApnsTokenEnvironment;
  /** When it was registered (ms since the epoch). */
  readonly updatedAt: number;
}

export interface Store {
  /** A short name for logs and metrics: "memory", "sqlite", … */
  readonly kind: string;

  /** Throws StoreError with code STORE_DEVICE_EXISTS when the id is taken. */
  addDevice(device: DeviceRecord): Promise<void>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(): Promise<DeviceRecord[]>;
  /**
   * Removes the device, its messages, their receipts and its APNs tokens, in one atomic step: no reader
   * ever sees the device gone with its tokens still mapped to it. False when there was no such device. The
   * device's last seq is remembered, so a device re-added with the same id continues after it (a
   * client's old resume cursor must never acknowledge new messages).
   */
  removeDevice(id: string): Promise<boolean>;

  /**
   * Accepts a message: assigns the next seq, applies collapse and the queue bound, records the
   * `accepted` (and any `collapsed` / `overflowed`) receipts — all in one atomic step. Rejects when the
   * device is not registered, and with a `MessageIdConflictError` (STORE_MESSAGE_ID_CONFLICT) when
   * the id names a message of another device or with other content; either way nothing is written. A
   * maxQueuePerDevice below 1 acts as 1: the new message is never dropped.
   */
  enqueue(message: NewMessage, options: EnqueueOptions): Promise<EnqueueResult>;
  /**
   * Records a message that was never queued (expiration 0 with the device offline) directly as expired,
   * so that its status can still be asked for by id. Idempotent by id under the same rule as enqueue
   * (the existing message is returned; another device or other content is rejected with a conflict).
   */
  recordExpired(message: NewMessage, at: number): Promise<StoredMessage>;
  /**
   * Messages to (re)deliver, in seq order: state queued or sent, seq > afterSeq, not expired at `now`,
   * and not (expiration 0 and already sent). "Expired at now" is exactly what expireDue(now) would expire,
   * so the two never disagree.
   */
  deliverable(deviceId: string, afterSeq: number, now: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Marks messages sent (state queued → sent; sent stays sent) and records a `sent` receipt each time.
   * `sentAt` keeps the first send; the receipts show every redelivery. Other states are left alone.
   */
  markSent(deviceId: string, seqs: readonly number[], at: number): Promise<void>;
  /** Marks the named messages acked; returns only those that were not acked before. */
  acknowledge(deviceId: string, ack: AckInput, at: number): Promise<StoredMessage[]>;
  /**
   * Moves every queued or sent message whose expiration passed (expiration > 0 and expiration*1000 <= now)
   * to expired, and expiration-0 messages once acceptedAt + ZERO_EXPIRATION_GRACE_MS <= now. Returns them.
   */
  expireDue(now: number): Promise<StoredMessage[]>;
  /** Moves one undelivered message to `fallen_back` (handed to APNs); detail names the path. Undefined otherwise. */
  markFallenBack(messageId: string, at: number, detail: string): Promise<StoredMessage | undefined>;

  /**
   * Retention: deletes up to `limit` settled messages (any terminal state: acked, expired, fallen_back,
   * collapsed, overflowed) with settledAt <= `before`, and their receipts, oldest-settled first where
   * the backend can tell. Queued and sent messages are never touched, and the device's seqs go on after
   * the deleted ones (never reused). Afterwards a pruned id is unknown: getMessage and receipts answer
   * nothing, and submitting the id again is a new message. Returns how many were deleted; fewer than
   * `limit` means none is left that is due. Each call is one small atomic step, so that callers can
   * prune a long history in batches between deliveries.
   */
  prune(before: number, limit: number): Promise<number>;

  getMessage(id: string): Promise<StoredMessage | undefined>;
  /** A device's messages, newest first. */
  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]>;
  /** Receipts of one message, oldest first. */
  receipts(messageId: string): Promise<Receipt[]>;
  /** Undelivered (queued or sent) messages of a device. */
  pendingCount(deviceId: string): Promise<number>;

  /**
   * Maps `record.token` (lower-cased) to the device, replacing whatever it mapped to: an app reinstall can
   * move a token to another device. Rejects, writing nothing, when the device is not registered.
   */
  registerApnsToken(record: ApnsTokenRecord): Promise<void>;
  /** The registration of a token (case-insensitive). */
  apnsToken(token: string): Promise<ApnsTokenRecord | undefined>;
  /** Every token registered by a device, ordered by token. */
  apnsTokensOf(deviceId: string): Promise<ApnsTokenRecord[]>;
  /** Forgets one token (case-insensitive); false when it was not registered. */
  removeApnsToken(token: string): Promise<boolean>;

  close(): Promise<void>;
}
