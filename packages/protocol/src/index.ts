/**
 * @localpush/protocol — the wire protocol of localpush, version 1 (docs/protocol.md).
 * Pure: messages, validation and framing. The transport adapters live in `@localpush/protocol/link`.
 */
export { CodedError } from './coded-error.js';
export * from './errors.js';
export * from './messages.js';
export {
  encodeMessage,
  decodeClientMessage,
  decodeServerMessage,
  decodeMessage,
  validateMessage,
} from './codec.js';
export { FrameDecoder, frame, checkMaxFrameBytes } from './frame.js';
export {
  LengthPrefixDecoder,
  lengthPrefixed,
  LENGTH_PREFIX_BYTES,
  type LengthPrefixRules,
} from './length-prefix.js';
export { systemClock, ManualClock, type Clock, type TimerHandle } from './clock.js';
export { Backoff, backoffCeiling, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { percentile } from './stats.js';
