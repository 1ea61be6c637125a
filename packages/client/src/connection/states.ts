/**
 * The states of a {@link DeviceClient} and why it stopped. Kept apart from the client so that the SDK
 * layer and tools can import the vocabulary without the socket code.
 */
import type { Goaway, ProtocolErrorCode } from '@localpush/protocol';

/**
 * `idle` before `start()`; `connecting` while the transport opens; `handshaking` between hello and
 * welcome; `connected` after the welcome; `backoff` while waiting to reconnect; `stopped` for good (until
 * `start()` or `reconnect()`, see {@link StopReason}).
 */
export const CLIENT_STATES = [
  'idle',
  'connecting',
  'handshaking',
  'connected',
  'backoff',
  'stopped',
] as const;

/** One of {@link CLIENT_STATES}. */
export type ClientState = (typeof CLIENT_STATES)[number];

/** Why the client entered `stopped`. */
export type StopReason =
  /** `stop()` was called. */
  | { kind: 'user' }
  /** The server refused the device in a way retrying cannot fix (auth failed, version unsupported). */
  | { kind: 'fatal'; code: ProtocolErrorCode; message: string }
  /**
   * Another connection for the same device replaced this one. Reconnecting at once would knock that one
   * off in turn and the two would flap, so the client waits for `reconnect()` / `start()`.
   */
  | { kind: 'goaway'; reason: Goaway['reason']; message?: string };
