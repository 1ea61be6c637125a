/**
 * The contracts between the device gateway, the delivery engine and the HTTP API.
 *
 *   gateway ──SessionListener──▶ engine ──DeviceSession──▶ gateway
 *   HTTP API ──DeliveryEngine──▶ engine
 */
import type { Ack, JsonValue, Notice, Push, PushKind, PushPriority } from '@localpush/protocol';
import type { MessageIdConflict } from '../store/rules.js';
import type { DeviceRecord, Receipt, StoredMessage } from '../store/types.js';

/** A live, authenticated device connection, as the engine sees it. Implemented by the gateway. */
export interface DeviceSession {
  readonly deviceId: string;
  readonly sessionId: string;
  /** False once the session closed (or was replaced); sends are then ignored. */
  readonly isOpen: boolean;
  /**
   * Writes a push; returns the bytes written, or 0 when the session is closed or its write queue
   * overflowed (it is then closed). The engine writes only while `writable`.
   */
  sendPush(push: Push): number;
  sendNotice(notice: Notice): void;
  /**
   * False while the session's write queue is above its high-water mark: pushes wait, and the listener's
   * sessionWritable says when it drained. [LP-7.2]
   */
  readonly writable: boolean;
  /** A count that grows whenever the device shows it reads (queue drained, heartbeat answered). */
  readonly progress: number;
  /** Asks the device for a sign that it reads (a heartbeat now), when nothing else would show one. */
  checkReading(): void;
  /** Drops the session as a slow consumer: pushes waited and the device made no progress. [LP-7.2] */
  dropSlowConsumer(): void;
}

/** What the gateway reports to the engine. Calls for one device arrive in order. */
export interface SessionListener {
  /**
   * A device completed its hello. `resumeThrough` is the hello's resume cursor: the device processed
   * every message with seq <= it, which counts as a cumulative ack. [LP-4.5]
   */
  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void;
  /** The session closed for any reason (including replacement by a newer session). */
  sessionClosed(session: DeviceSession): void;
  /**
   * The device acknowledged pushes. Returns false when the ack names a seq greater than any sent to the
   * device, so the gateway can answer LP_ACK_INVALID. [LP-6.5]
   */
  ackReceived(session: DeviceSession, ack: Ack): boolean;
  /** The session's write queue drained after it was not writable: feed it again. [LP-7.2] */
  sessionWritable(session: DeviceSession): void;
}

/** A push as an application server submits it, validated by the HTTP layer. */
export interface SendRequest {
  deviceId: string;
  /** Optional client-chosen id (idempotency key); generated (UUID v4) when absent. */
  id?: string;
  kind: PushKind;
  payload: JsonValue;
  priority: PushPriority;
  /** UNIX seconds; 0 = now or never; absent = the server's default time to live. */
  expiration?: number;
  collapseId?: string;
}

/**
 * Outcome of a submit, per device:
 * - `delivered`: the device acknowledged it (only when waiting for the ack);
 * - `sent`: written to the device's live connection, not yet acknowledged;
 * - `queued`: stored; the device is offline and gets it when it connects;
 * - `expired`: expiration 0 and the device offline, or already past its expiration: not delivered;
 * - `timeout`: waited for the ack and none came in time — the message stays queued for redelivery;
 * - `unknown_device`: no such device; nothing stored;
 * - `conflict`: the id already names a message for another device or with other content; nothing stored
 *   (`conflict` says which). The same id, device and content is a duplicate instead.
 */
export const SEND_STATUSES = [
  'delivered',
  'sent',
  'queued',
  'expired',
  'timeout',
  'unknown_device',
  'conflict',
] as const;
export type SendStatus = (typeof SEND_STATUSES)[number];

export interface SendOutcome {
  deviceId: string;
  id: string;
  status: SendStatus;
  /**
   * True when this id was submitted before for this device with the same content; the outcome then
   * describes the existing message.
   */
  duplicate: boolean;
  seq?: number;
  /** With status `conflict`: why the id was refused, and a sentence saying so. */
  conflict?: { reason: MessageIdConflict; message: string };
}

export interface MessageStatus {
  message: StoredMessage;
  receipts: Receipt[];
}

export interface DeliveryEngine {
  submit(request: SendRequest): Promise<SendOutcome>;
  /**
   * Submits and then waits up to `timeoutMs` for the device's ack: `delivered`, or `timeout` (the
   * message stays queued), or the submit's own outcome when it cannot be delivered now.
   */
  submitAndWait(request: SendRequest, timeoutMs: number): Promise<SendOutcome>;
  status(messageId: string): Promise<MessageStatus | undefined>;
  /** Follows every receipt as it is recorded (for the SSE feed). Returns the unsubscribe function. */
  onReceipt(listener: (receipt: Receipt) => void): () => void;
}

/** Device enrolment, as the admin API and the CLI use it. */
export interface DeviceDirectory {
  /** Registers a device and returns its credential — shown once, stored only as a hash. */
  add(input: { id?: string; label?: string }): Promise<{ device: DeviceRecord; credential: string }>;
  get(id: string): Promise<DeviceRecord | undefined>;
  list(): Promise<DeviceRecord[]>;
  remove(id: string): Promise<boolean>;
  /** Whether the device has a live session now. */
  isOnline(id: string): boolean;
}
