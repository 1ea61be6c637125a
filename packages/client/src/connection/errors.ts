/**
 * Stable error codes of the device connection. They sit next to the protocol's `LP_*` codes (which the
 * client also surfaces, for error frames from the server and for frames it could not decode), and are
 * listed with their meaning and the client's reaction in docs/client-errors.md.
 */
import { CodedError, type ProtocolErrorCode } from '@localpush/protocol';

/** Codes for failures the client detects itself. A code is never reused for another meaning. */
export const ClientErrorCode = {
  /** The server's certificate key does not match any configured SPKI pin; no hello was sent. */
  PIN_MISMATCH: 'LP_CLIENT_PIN_MISMATCH',
  /** The transport (TCP connect, TLS handshake or WebSocket upgrade) did not complete in time. */
  CONNECT_TIMEOUT: 'LP_CLIENT_CONNECT_TIMEOUT',
  /** The hello was sent but no welcome arrived within the connect timeout. [LP-4.6] */
  WELCOME_TIMEOUT: 'LP_CLIENT_WELCOME_TIMEOUT',
  /** The URL (configured or from a redirect) is not `tls://`, `tcp://`, `ws://` or `wss://` host:port. */
  BAD_URL: 'LP_CLIENT_BAD_URL',
  /** The endpoints are unusable as a whole: none given, both `url` and `urls`, or one listed twice. */
  ENDPOINTS_INVALID: 'LP_CLIENT_ENDPOINTS_INVALID',
  /** A ws/wss URL was given but no WebSocket constructor is available (Node 20 has no global one). */
  NO_WEBSOCKET: 'LP_CLIENT_NO_WEBSOCKET',
  /** The WebSocket constructor cannot apply `pin`/`ca` (the WHATWG one exposes no TLS options). */
  TLS_OPTIONS_UNSUPPORTED: 'LP_CLIENT_TLS_OPTIONS_UNSUPPORTED',
  /** The transport could not be opened (refused, unreachable, DNS failure). */
  CONNECT_FAILED: 'LP_CLIENT_CONNECT_FAILED',
  /** Certificate verification failed (unknown CA, wrong host name, expired) without a pin. */
  TLS_FAILED: 'LP_CLIENT_TLS_FAILED',
  /** An established connection closed without a goaway or error frame. */
  CONNECTION_LOST: 'LP_CLIENT_CONNECTION_LOST',
  /** A `push` listener or the `onPush` handler threw; the push was not acknowledged. */
  PUSH_HANDLER_FAILED: 'LP_CLIENT_PUSH_HANDLER_FAILED',
  /** Nothing arrived from the server within heartbeat interval + grace: the link is dead. [LP-5.6] */
  HEARTBEAT_TIMEOUT: 'LP_CLIENT_HEARTBEAT_TIMEOUT',
  /**
   * A diagnostic session (the network doctor) was welcomed without `diagnostic` and `probe`: an older
   * server, which made it the device's session; the doctor closed it at once. [LP-10.3]
   */
  DIAGNOSTIC_UNSUPPORTED: 'LP_CLIENT_DIAGNOSTIC_UNSUPPORTED',
} as const;

/** One of {@link ClientErrorCode}'s values. */
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** An error reported by the device connection, with a stable code to branch on. */
/** `code`: a client code, or a protocol code (from a server error frame or a frame the client rejected). */
export class ClientError extends CodedError<ClientErrorCode | ProtocolErrorCode> {
  override readonly name = 'ClientError';
  /** True when the code arrived in an `error` frame from the server. */
  readonly fromServer: boolean;

  constructor(
    code: ClientErrorCode | ProtocolErrorCode,
    message: string,
    options: { cause?: unknown; fromServer?: boolean } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.fromServer = options.fromServer ?? false;
  }
}
