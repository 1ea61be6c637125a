/**
 * The delivery rules every store applies, written once so that the memory and SQLite backends cannot
 * drift apart. SQLite expresses the same rules in SQL (sqlite-statements.ts); the conformance suite
 * checks that both agree.
 */
import type { JsonValue } from '@localpush/protocol';
import { ServerErrorCode, StoreError } from '../errors.js';
import {
  ZERO_EXPIRATION_GRACE_MS,
  type ApnsTokenRecord,
  type MessageState,
  type NewMessage,
  type Receipt,
  type ReceiptEvent,
  type StoredMessage,
} from './types.js';

/** States of a message that is still to be delivered. */
export const UNDELIVERED_STATES = ['queued', 'sent'] as const satisfies readonly MessageState[];

/** True while the message is queued or sent (not yet settled). */
export function isUndelivered(state: MessageState): boolean {
  return state === 'queued' || state === 'sent';
}

/**
 * True when the message counts as expired at `now` (ms): its expiration passed, or it is an
 * expiration-0 message older than the grace period. State is not considered here.
 */
export function isExpiredAt(message: Pick<StoredMessage, 'expiration' | 'acceptedAt'>, now: number): boolean {
  if (message.expiration > 0) return message.expiration * 1000 <= now;
  return message.acceptedAt + ZERO_EXPIRATION_GRACE_MS <= now;
}

/** True when `deliverable` may return the message at `now`. */
export function isDeliverable(message: StoredMessage, now: number): boolean {
  if (!isUndelivered(message.state)) return false;
  // Sent-once rule: "now or never" messages are never redelivered after a reconnect.
  if (message.expiration === 0 && message.state === 'sent') return false;
  return !isExpiredAt(message, now);
}

/** The queue bound as the stores apply it: at least 1, so the message just accepted is never the one dropped. */
export function effectiveQueueBound(maxQueuePerDevice: number): number {
  return Number.isFinite(maxQueuePerDevice)
    ? Math.max(1, Math.floor(maxQueuePerDevice))
    : Number.MAX_SAFE_INTEGER;
}

/** The error for operations on a closed store; a programming error, so a plain Error. */
export function closedError(kind: string): Error {
  return new Error(`the ${kind} store is closed`);
}

/**
 * The error for enqueueing to an unregistered device. The engine does not read the device first: it
 * takes this rejection (thrown before anything is written) and confirms it with getDevice.
 */
export function unknownDeviceError(deviceId: string, what = 'a message'): StoreError {
  return new StoreError(
    ServerErrorCode.STORE_DEVICE_NOT_FOUND,
    `cannot store ${what} for unknown device "${deviceId}": register the device first`,
  );
}

/** The registration as every store keeps it: the token lower-case, only the record's own fields. */
export function normalizedApnsToken(record: ApnsTokenRecord): ApnsTokenRecord {
  return {
    token: record.token.toLowerCase(),
    deviceId: record.deviceId,
    bundleId: record.bundleId,
    environment: record.environment,
    updatedAt: record.updatedAt,
  };
}

/** Orders registrations by token, as `apnsTokensOf` returns them. */
export function byToken(a: ApnsTokenRecord, b: ApnsTokenRecord): number {
  return a.token < b.token ? -1 : a.token > b.token ? 1 : 0;
}

/**
 * A message's receipts, rebuilt from what both stores keep: the message itself (accepted, the first
 * send, the terminal event), the times of its later sends, and the terminal receipt's detail. In time
 * order; receipts of the same millisecond keep the order of a message's life, the order they happened.
 */
export function receiptsOf(
  message: Pick<StoredMessage, 'id' | 'deviceId' | 'acceptedAt' | 'sentAt' | 'settledAt' | 'state'>,
  redeliveries: readonly number[],
  settledDetail: string | null,
): Receipt[] {
  const receipt = (event: ReceiptEvent, at: number, detail: string | null): Receipt => ({
    messageId: message.id,
    deviceId: message.deviceId,
    event,
    at,
    detail,
  });
  const list = [receipt('accepted', message.acceptedAt, null)];
  if (message.sentAt !== null) list.push(receipt('sent', message.sentAt, null));
  for (const at of redeliveries) list.push(receipt('sent', at, null));
  if (message.settledAt !== null && !isUndelivered(message.state)) {
    list.push(receipt(message.state as ReceiptEvent, message.settledAt, settledDetail));
  }
  // Array.prototype.sort is stable: ties stay in the order above.
  return list.sort((a, b) => a.at - b.at);
}

/** Why a reused message id was refused. */
export type MessageIdConflict = 'other_device' | 'other_content';

/**
 * The message-id rule every store applies when an id it holds comes again (docs/http-api.md, "Message
 * ids"): the same device and the same content is a retry — a duplicate, answered with the existing
 * message; anything else is refused, because answering it as a duplicate would be a success that
 * delivers nothing. Content is what the sender chose: kind, payload (as JSON, key order aside), priority,
 * collapse id, and the expiration — unless the retry left it to the server's default, which moves with
 * the clock and so cannot tell a retry from a new message.
 */
export function messageIdConflict(
  existing: Pick<StoredMessage, 'deviceId' | 'kind' | 'payload' | 'priority' | 'collapseId' | 'expiration'>,
  input: NewMessage,
): MessageIdConflict | undefined {
  if (existing.deviceId !== input.deviceId) return 'other_device';
  const same =
    existing.kind === input.kind &&
    existing.priority === input.priority &&
    existing.collapseId === input.collapseId &&
    (input.defaultExpiration === true || existing.expiration === input.expiration) &&
    jsonEqual(existing.payload, input.payload);
  return same ? undefined : 'other_content';
}

/** Thrown (before anything is written) by enqueue and recordExpired for a refused reuse of an id. */
export class MessageIdConflictError extends StoreError {
  constructor(
    readonly messageId: string,
    readonly reason: MessageIdConflict,
  ) {
    super(
      ServerErrorCode.STORE_MESSAGE_ID_CONFLICT,
      reason === 'other_device'
        ? `message id "${messageId}" is already used by a message for another device; ids are unique across devices`
        : `message id "${messageId}" is already used by a message with other content; a retry must repeat the message as it was`,
    );
  }
}

/** Checks an id that exists already; throws the conflict, or returns normally for a true duplicate. */
export function assertDuplicate(existing: StoredMessage, input: NewMessage): void {
  const conflict = messageIdConflict(existing, input);
  if (conflict !== undefined) throw new MessageIdConflictError(input.id, conflict);
}

/** Equality of two JSON values: same types, same array items in order, same object members in any order. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i] as JsonValue, b[i] as JsonValue)) return false;
    return true;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!jsonEqual(a[key] as JsonValue, b[key] as JsonValue)) return false;
  }
  return true;
}
