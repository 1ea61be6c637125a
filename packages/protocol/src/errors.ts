/**
 * Stable error codes of the localpush protocol. Every code is listed in docs/errors.md; a code is never
 * reused for another meaning once published. The codes travel in `error` frames, so a client written in
 * any language can branch on them.
 */
import { CodedError } from './coded-error.js';
export const ProtocolErrorCode = {
  /** A frame's declared length is larger than the negotiated maximum. [LP-2.3] */
  FRAME_TOO_LARGE: 'LP_FRAME_TOO_LARGE',
  /** A frame is empty, not UTF-8, or not a JSON object. [LP-2.4] */
  FRAME_MALFORMED: 'LP_FRAME_MALFORMED',
  /** The connection ended in the middle of a frame. [LP-2.5] */
  FRAME_TRUNCATED: 'LP_FRAME_TRUNCATED',
  /** The `type` field names no message of this protocol version. [LP-3.2] */
  MESSAGE_UNKNOWN: 'LP_MESSAGE_UNKNOWN',
  /** A known message with a missing, mistyped or out-of-range field. [LP-3.3] */
  MESSAGE_INVALID: 'LP_MESSAGE_INVALID',
  /** A known message that this side may not send, or may not send now. [LP-3.4] */
  MESSAGE_UNEXPECTED: 'LP_MESSAGE_UNEXPECTED',
  /** The hello asked for a protocol version the server does not speak. [LP-4.3] */
  VERSION_UNSUPPORTED: 'LP_VERSION_UNSUPPORTED',
  /** The device id is unknown or the credential does not match it. [LP-4.4] */
  AUTH_FAILED: 'LP_AUTH_FAILED',
  /** The first message on a connection was not a hello. [LP-4.1] */
  HELLO_REQUIRED: 'LP_HELLO_REQUIRED',
  /** No hello arrived within the server's hello timeout. [LP-4.2] */
  HELLO_TIMEOUT: 'LP_HELLO_TIMEOUT',
  /** A heartbeat was not acknowledged within the grace period. [LP-5.3] */
  HEARTBEAT_TIMEOUT: 'LP_HEARTBEAT_TIMEOUT',
  /** The peer did not read fast enough and its write queue overflowed. [LP-7.2] */
  SLOW_CONSUMER: 'LP_SLOW_CONSUMER',
  /** An ack named a sequence number the server never sent. [LP-6.5] */
  ACK_INVALID: 'LP_ACK_INVALID',
  /** Plaintext arrived on a TLS port; the server answers with this one unencrypted frame. [LP-2.7] */
  TLS_REQUIRED: 'LP_TLS_REQUIRED',
  /** The server is shutting down or draining; reconnect after the hint. [LP-8.3] */
  SHUTTING_DOWN: 'LP_SHUTTING_DOWN',
  /** The server failed for a reason of its own; the client should reconnect later. */
  INTERNAL: 'LP_INTERNAL',
} as const;

export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ProtocolErrorCode));

/** True when `code` is one of this protocol version's error codes. */
export function isProtocolErrorCode(code: string): code is ProtocolErrorCode {
  return KNOWN_CODES.has(code);
}

/** An error detected while decoding or validating the wire protocol. */
export class ProtocolError extends CodedError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError';
}
