/**
 * Opening a transport and wrapping it in a FrameLink: TLS or plain TCP with length-prefixed frames,
 * WebSocket with one frame per message. Everything above this module talks to the FrameLink only.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { streamLink, webSocketLink, type FrameLink, type WebSocketLike } from '@localpush/protocol/link';
import { ClientError, ClientErrorCode } from './errors.js';
import { checkPeerPin } from './pinning.js';

/** The URL schemes the client speaks. `tcp` is plaintext and meant for tests and development. */
export const URL_SCHEMES = ['tls', 'tcp', 'ws', 'wss'] as const;

/** One of {@link URL_SCHEMES}. */
export type UrlScheme = (typeof URL_SCHEMES)[number];

/** A validated server URL. */
export interface ServerUrl {
  scheme: UrlScheme;
  host: string;
  port: number;
  /** The URL as given, for WebSocket constructors and messages. */
  href: string;
}

/** True for schemes that encrypt (so a redirect from one of them to a plaintext one is refused). */
export function isSecureScheme(scheme: UrlScheme): boolean {
  return scheme === 'tls' || scheme === 'wss';
}

/** Parses and checks a server URL; throws a {@link ClientError} with `LP_CLIENT_BAD_URL`. */
export function parseServerUrl(url: string): ServerUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new ClientError(ClientErrorCode.BAD_URL, `not a URL: "${url}"`, { cause });
  }
  const scheme = parsed.protocol.slice(0, -1) as UrlScheme;
  if (!URL_SCHEMES.includes(scheme)) {
    throw new ClientError(ClientErrorCode.BAD_URL, `unsupported scheme in "${url}"; use tls, tcp, ws or wss`);
  }
  // URL keeps IPv6 literals in brackets; net and tls want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const defaultPort = scheme === 'ws' ? 80 : scheme === 'wss' ? 443 : undefined;
  const port = parsed.port === '' ? defaultPort : Number(parsed.port);
  if (host === '' || port === undefined) {
    throw new ClientError(ClientErrorCode.BAD_URL, `"${url}" needs a host and, for tls/tcp, a port`);
  }
  return { scheme, host, port, href: url };
}

/**
 * The URL a `goaway` redirect points to, parsed; a ClientError (`LP_CLIENT_BAD_URL`) when it is not a
 * server URL or would leave `tls`/`wss` for plaintext. [LP-8.4]
 */
export function redirectTarget(from: ServerUrl, target: string): ServerUrl {
  const url = parseServerUrl(target);
  if (isSecureScheme(from.scheme) && !isSecureScheme(url.scheme)) {
    throw new ClientError(
      ClientErrorCode.BAD_URL,
      `refusing redirect from ${from.href} to plaintext ${target}`,
    );
  }
  return url;
}

/** A WebSocket constructor: the WHATWG one (Node 22+) or a compatible one such as the `ws` package's. */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: Record<string, unknown>,
) => WebSocketLike;

/**
 * Throws a {@link ClientError} when `url` is a WebSocket URL that cannot be served: no WebSocket
 * constructor at all, or the built-in WHATWG one for wss with a pin or CA (it takes no TLS options).
 */
export function checkWebSocketSupport(
  url: ServerUrl,
  webSocket: WebSocketConstructor | undefined,
  tlsOptions: boolean,
): void {
  if (url.scheme !== 'ws' && url.scheme !== 'wss') return;
  if (webSocket === undefined) {
    throw new ClientError(
      ClientErrorCode.NO_WEBSOCKET,
      `${url.href} needs a WebSocket: this Node has no global WebSocket, pass one as options.webSocket (e.g. from the "ws" package)`,
    );
  }
  const whatwg = webSocket === (globalThis as { WebSocket?: unknown }).WebSocket;
  if (url.scheme === 'wss' && tlsOptions && whatwg) {
    throw new ClientError(
      ClientErrorCode.TLS_OPTIONS_UNSUPPORTED,
      'the built-in WebSocket cannot use pin or ca; pass a WebSocket from the "ws" package as options.webSocket',
    );
  }
}

/** What a transport needs besides the URL. */
export interface TransportOptions {
  /** For tls/tcp: the address to connect to (one the URL's host name resolved to); default the host. */
  address?: string | undefined;
  /** Decoded SPKI pins; when non-empty, CA, host name and expiry are not checked. */
  pins: readonly Buffer[];
  ca: string | Buffer | Array<string | Buffer> | undefined;
  servername: string | undefined;
  webSocket: WebSocketConstructor | undefined;
  maxFrameBytes: number | undefined;
}

/** A transport being opened; `cancel` aborts it and guarantees `done` is not called afterwards. */
export interface PendingTransport {
  cancel(): void;
}

/** The result of {@link openTransport}: a link ready for the hello, or why there is none. */
export type TransportResult = { link: FrameLink } | { error: ClientError };

/** Opens a transport to `url` and calls `done` exactly once, unless cancelled first. */
export function openTransport(
  url: ServerUrl,
  options: TransportOptions,
  done: (result: TransportResult) => void,
): PendingTransport {
  return url.scheme === 'ws' || url.scheme === 'wss'
    ? openWebSocket(url, options, done)
    : openStream(url, options, done);
}

/** TLS error codes from OpenSSL/Node that mean "the certificate was not trusted", not "no route". */
const TLS_VERIFY_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/;

function connectError(error: Error, url: ServerUrl, address?: string): ClientError {
  const code = (error as { code?: unknown }).code;
  const tls = typeof code === 'string' && TLS_VERIFY_CODES.test(code);
  return new ClientError(
    tls ? ClientErrorCode.TLS_FAILED : ClientErrorCode.CONNECT_FAILED,
    `${tls ? 'TLS verification failed' : 'could not connect'} to ${url.href}${address === undefined ? '' : ` (${address})`}: ${error.message}`,
    { cause: error },
  );
}

function openStream(
  url: ServerUrl,
  options: TransportOptions,
  done: (r: TransportResult) => void,
): PendingTransport {
  let settled = false;
  const settle = (result: TransportResult): void => {
    if (settled) return;
    settled = true;
    done(result);
  };
  let socket: Socket;
  if (url.scheme === 'tls') {
    const pinned = options.pins.length > 0;
    const servername = options.servername ?? (isIP(url.host) === 0 ? url.host : undefined);
    const tlsSocket: TLSSocket = tlsConnect({
      host: options.address ?? url.host,
      port: url.port,
      // SNI must not carry an IP address (RFC 6066), so it is only set for names.
      ...(servername === undefined ? {} : { servername }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      // With a pin the key is the only thing trusted; the check runs on secureConnect below.
      rejectUnauthorized: !pinned,
    });
    tlsSocket.once('secureConnect', () => {
      if (settled) return;
      if (pinned) {
        const check = checkPeerPin(tlsSocket, options.pins);
        if (!check.ok) {
          tlsSocket.destroy();
          settle({
            error: new ClientError(
              ClientErrorCode.PIN_MISMATCH,
              `server key at ${url.href} does not match the pin (server presented ${check.actual ?? 'no certificate'})`,
            ),
          });
          return;
        }
      }
      settle({ link: streamLink(tlsSocket, { maxFrameBytes: options.maxFrameBytes }) });
    });
    socket = tlsSocket;
  } else {
    socket = netConnect({ host: options.address ?? url.host, port: url.port });
    socket.once('connect', () => {
      settle({ link: streamLink(socket, { maxFrameBytes: options.maxFrameBytes }) });
    });
  }
  socket.setNoDelay(true);
  // Kept for the socket's whole life: an 'error' without a listener would crash the process.
  socket.on('error', (error) => settle({ error: connectError(error, url, options.address) }));
  socket.once('close', () =>
    settle({ error: new ClientError(ClientErrorCode.CONNECT_FAILED, `${url.href} closed during connect`) }),
  );
  return {
    cancel() {
      settled = true;
      socket.destroy();
    },
  };
}

/** The `ws` package's extras used for pinning; the WHATWG WebSocket has none of them. */
interface NodeWebSocketExtras {
  on(event: 'upgrade', listener: (response: IncomingMessage) => void): unknown;
  terminate(): void;
  binaryType?: string;
}

function openWebSocket(
  url: ServerUrl,
  options: TransportOptions,
  done: (r: TransportResult) => void,
): PendingTransport {
  let settled = false;
  const settle = (result: TransportResult): void => {
    if (settled) return;
    settled = true;
    done(result);
  };
  const opened = constructWebSocket(url, options);
  if (opened instanceof ClientError) {
    settle({ error: opened });
    return { cancel() {} };
  }
  const socket = opened;
  const abort = (): void => {
    if (typeof socket.terminate === 'function') socket.terminate();
    else socket.close();
  };
  // Registered first: aborting a connecting WebSocket emits 'error', which must not go unheard.
  socket.addEventListener('error', (event) => {
    const cause = (event as { error?: unknown }).error;
    const error = cause instanceof Error ? cause : new Error('WebSocket error');
    settle({ error: connectError(error, url) });
  });
  socket.addEventListener('close', (event) => {
    settle({
      error: new ClientError(
        ClientErrorCode.CONNECT_FAILED,
        `${url.href} closed during connect (${event.code})`,
      ),
    });
  });
  const pin = checkPinOnUpgrade(socket, url, options, (error) => {
    settle({ error });
    abort();
  });
  if (pin === undefined) return { cancel() {} };
  (socket as unknown as { addEventListener(type: 'open', listener: () => void): void }).addEventListener(
    'open',
    () => {
      if (settled) return;
      if (!pin.verified) {
        settle({
          error: new ClientError(
            ClientErrorCode.TLS_OPTIONS_UNSUPPORTED,
            `the WebSocket for ${url.href} opened without reporting its upgrade, so the pin was not checked`,
          ),
        });
        abort();
        return;
      }
      settle({
        link: webSocketLink(socket, {
          maxFrameBytes: options.maxFrameBytes,
          ...(typeof socket.terminate === 'function' ? { terminate: () => socket.terminate?.() } : {}),
          remoteAddress: url.host,
        }),
      });
    },
  );
  return {
    cancel() {
      settled = true;
      abort();
    },
  };
}

/** A WebSocket to `url` with the TLS options that apply (binary frames as ArrayBuffer), or why not. */
function constructWebSocket(
  url: ServerUrl,
  options: TransportOptions,
): (WebSocketLike & Partial<NodeWebSocketExtras>) | ClientError {
  const Ctor = options.webSocket;
  if (Ctor === undefined) {
    return new ClientError(ClientErrorCode.NO_WEBSOCKET, `no WebSocket constructor for ${url.href}`);
  }
  const tlsOptions: Record<string, unknown> = {};
  if (url.scheme === 'wss') {
    if (options.ca !== undefined) tlsOptions.ca = options.ca;
    if (options.servername !== undefined) tlsOptions.servername = options.servername;
    if (options.pins.length > 0) tlsOptions.rejectUnauthorized = false;
  }
  let socket: WebSocketLike & Partial<NodeWebSocketExtras>;
  try {
    socket =
      Object.keys(tlsOptions).length > 0 ? new Ctor(url.href, undefined, tlsOptions) : new Ctor(url.href);
  } catch (cause) {
    return new ClientError(ClientErrorCode.CONNECT_FAILED, `could not open ${url.href}`, { cause });
  }
  // Blob (the WHATWG default) cannot be read synchronously; ArrayBuffer works in both implementations.
  socket.binaryType = 'arraybuffer';
  return socket;
}

/**
 * Checks the server's key against the pins when the upgrade is reported (`ws` only), failing through
 * `fail`. Returns whether the pin was verified so far — true at once when there is nothing to check —
 * or undefined when it cannot be checked at all (failed already).
 */
function checkPinOnUpgrade(
  socket: WebSocketLike & Partial<NodeWebSocketExtras>,
  url: ServerUrl,
  options: TransportOptions,
  fail: (error: ClientError) => void,
): { verified: boolean } | undefined {
  if (options.pins.length === 0 || url.scheme !== 'wss') return { verified: true };
  if (typeof socket.on !== 'function') {
    // Without the upgrade event there is no certificate to check; never let a pin pass unchecked.
    fail(
      new ClientError(
        ClientErrorCode.TLS_OPTIONS_UNSUPPORTED,
        `this WebSocket implementation cannot check a pin for ${url.href}; use the "ws" package`,
      ),
    );
    return undefined;
  }
  // Set only by a successful check: 'open' without it means the pin was never checked.
  const pin = { verified: false };
  // The `ws` package reports the HTTP upgrade before 'open'; nothing of ours has been sent yet except the
  // upgrade request, which carries no credential. Terminating here keeps 'open' from firing.
  socket.on('upgrade', (response) => {
    const check = checkPeerPin(response.socket as TLSSocket, options.pins);
    pin.verified = check.ok;
    if (check.ok) return;
    fail(
      new ClientError(
        ClientErrorCode.PIN_MISMATCH,
        `server key at ${url.href} does not match the pin (server presented ${check.actual ?? 'no certificate'})`,
      ),
    );
  });
  return pin;
}
