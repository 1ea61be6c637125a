/**
 * The delivery rules every store applies, written once so that the memory and SQLite backends cannot
 * drift apart. SQLite expresses the same rules in SQL (sqlite-statements.ts); the conformance suite
 * checks that both agree.
 */
import {
  ZERO_EXPIRATION_GRACE_MS,
  type MessageState,
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
export function unknownDeviceError(deviceId: string): Error {
  return new Error(`cannot store a message for unknown device "${deviceId}": register the device first`);
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
