/**
 * Transports: thin adapters that turn accepted sockets into frame links for the gateway.
 * TLS (the default device transport), WebSocket (browsers, proxies), and plain TCP (development and
 * benchmarks behind a TLS-terminating proxy).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { encodeMessage, frame, ProtocolErrorCode } from '@localpush/protocol';
import { streamLink, webSocketLink } from '@localpush/protocol/link';
import { WebSocket, WebSocketServer } from 'ws';
import { LocalpushError, ServerErrorCode } from '../errors.js';
import { followIdentity, tlsServerOptions, type TlsIdentity } from '../identity.js';
import type { AdmissionTicket } from './admission.js';
import type { Gateway } from './gateway.js';

export type { TlsIdentity } from '../identity.js';

/**
 * Connections the kernel may hold accepted-but-not-yet-taken per listener (Linux caps it at
 * net.core.somaxconn, 4096 by default). Node's default of 511 overflows in a reconnect storm — thousands
 * of devices dialling within the same half second after a restart — and every dropped handshake is retried
 * by the device's TCP stack only after 1 s, then 3 s, then 7 s: the tail of the storm, not its bulk.
 */
const ACCEPT_BACKLOG = 4096;

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

export interface ListenAddress {
  host: string;
  port: number;
}

/** A started listener: where it listens, and how to stop it. */
export interface Listener {
  readonly address: ListenAddress;
  /** Stops accepting; existing connections are left to the gateway's shutdown. */
  close(): Promise<void>;
}

/**
 * TLS device listener. A plain TCP server sniffs the first byte of each connection: TLS goes on to the
 * TLS stack; anything else (a client that forgot TLS, a port scanner) gets one unencrypted error frame
 * with LP_TLS_REQUIRED, so the mistake is obvious from the client side, and is closed. [LP-2.7]
 * Every socket is admitted at accept (gateway.admission): its one deadline runs through the sniffing, the
 * handshake and the hello, and no byte the peer sends resets it. [LP-4.2]
 */
export async function listenTls(
  gateway: Gateway,
  identity: TlsIdentity,
  address: ListenAddress,
): Promise<Listener> {
  const tlsServer = tls.createServer({
    // With the data directory's ticket keys: a device that reconnects after a restart resumes its session.
    ...tlsServerOptions(identity),
    // [LP-7.1] Small pushes must not wait for Nagle's algorithm.
    noDelay: true,
    // Node's handshake timeout is an idle timeout (a byte every few seconds keeps it away); the admission
    // deadline is the one that counts. This one only stays as a backstop, a little later.
    handshakeTimeout: gateway.connectionOptions.helloTimeoutMs * 2,
  });
  // A certificate reload reaches this server too (certificates.ts).
  followIdentity(tlsServer, identity);
  tlsServer.on('secureConnection', (socket) => {
    socket.setNoDelay(true);
    gateway.accept(
      streamLink(socket, { maxFrameBytes: gateway.connectionOptions.maxFrameBytes }),
      gateway.admission.ticketOf(socket),
    );
  });
  // A failed handshake (garbage, wrong protocol, a scanner, the handshake timeout) ends the connection:
  // Node only reports it, and a socket left open would hold its descriptor.
  tlsServer.on('tlsClientError', destroyTlsSocket);

  const front = net.createServer({ noDelay: true }, (socket) => {
    // This socket lives on under the TLS socket (as its parent) for as long as the connection does, so
    // nothing per connection stays attached to it beyond authentication: a shared error listener, and the
    // admission's deadline on the injected clock rather than socket.setTimeout, whose Timeout object,
    // bound callback and 'timeout' listener Node keeps on the socket even after setTimeout(0).
    socket.on('error', destroySocket);
    if (gateway.admission.admit(socket, 'tls') === undefined) return;
    socket.once('data', (head: Buffer) => {
      socket.pause();
      if (head[0] === TLS_HANDSHAKE_RECORD) {
        // The TLS socket takes bytes already read from a wrapped socket before it reads the handle, so the
        // sniffed chunk goes back in front of the stream and the handshake sees all of it.
        socket.unshift(head);
        tlsServer.emit('connection', socket);
        return;
      }
      const refusal = encodeMessage({
        type: 'error',
        code: ProtocolErrorCode.TLS_REQUIRED,
        message: 'this port speaks TLS only; connect with TLS [LP-2.7]',
      });
      socket.end(frame(refusal));
      socket.resume();
    });
  });
  return listenOn(front, address, 'TLS');
}

/** An 'error' listener shared by every sniffed socket (a closure per socket would stay with it). */
function destroySocket(this: net.Socket): void {
  this.destroy();
}

/** The 'tlsClientError' listener of every TLS server: a failed handshake closes its socket. */
export function destroyTlsSocket(_error: Error, socket: tls.TLSSocket): void {
  socket.destroy();
}

/** Errors a WebSocket reports before closing: the link hears about the close itself. One for all sockets. */
function ignoreError(): void {}

/** Plain TCP device listener (no TLS): for development, benchmarks, or behind a TLS-terminating proxy. */
export async function listenTcp(gateway: Gateway, address: ListenAddress): Promise<Listener> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    const ticket = gateway.admission.admit(socket, 'tcp');
    if (ticket === undefined) return;
    gateway.accept(streamLink(socket, { maxFrameBytes: gateway.connectionOptions.maxFrameBytes }), ticket);
  });
  return listenOn(server, address, 'TCP');
}

export interface WebSocketListenOptions {
  /** Serve wss:// with this identity; plain ws:// when absent. */
  tls?: TlsIdentity;
  /** The URL path devices connect to. */
  path?: string;
}

/**
 * What `ws` closes with by itself when a message breaks the rules, and the code a device is told first
 * [LP-9.1]: `ws` enforces the size limit while the message arrives (it never buffers more than the limit)
 * and checks UTF-8 and the framing, then closes at once — so the error frame goes out just before.
 */
const WS_CLOSE_ERRORS: ReadonlyMap<number, { code: ProtocolErrorCode; message: string }> = new Map([
  [
    1009,
    { code: ProtocolErrorCode.FRAME_TOO_LARGE, message: 'message exceeds the maximum frame size [LP-2.3]' },
  ],
  [1007, { code: ProtocolErrorCode.FRAME_MALFORMED, message: 'text message is not valid UTF-8 [LP-2.4]' }],
  [1002, { code: ProtocolErrorCode.FRAME_MALFORMED, message: 'WebSocket framing error [LP-2.6]' }],
]);

/**
 * A device's WebSocket: when `ws` closes it for a message over the limit, invalid UTF-8 or bad framing,
 * the device first gets the coded error frame every other transport sends. One subclass (the server's
 * `WebSocket` option), so that nothing per connection is added.
 */
class DeviceWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    const error = code === undefined ? undefined : WS_CLOSE_ERRORS.get(code);
    if (error !== undefined && this.readyState === WebSocket.OPEN) {
      this.send(Buffer.from(encodeMessage({ type: 'error', ...error })).toString('utf8'));
      super.close(code, data ?? error.code);
      return;
    }
    super.close(code, data);
  }
}

/** The path devices connect to over WebSocket. [LP-2.6] */
export const WEBSOCKET_PATH = '/v1/connect';

/** WebSocket device listener: one protocol message per WebSocket message. [LP-2.6] */
export async function listenWebSocket(
  gateway: Gateway,
  address: ListenAddress,
  options: WebSocketListenOptions = {},
): Promise<Listener> {
  const https = options.tls
    ? createHttpsServer({
        ...tlsServerOptions(options.tls),
        handshakeTimeout: gateway.connectionOptions.helloTimeoutMs * 2,
      })
    : undefined;
  // A certificate reload reaches this server too (certificates.ts).
  if (https !== undefined && options.tls) followIdentity(https, options.tls);
  const http: HttpServer = https ?? createHttpServer();
  // Admitted at accept, before the TLS handshake and the upgrade request: the one deadline runs through
  // both and the hello, however slowly the peer sends them. [LP-4.2]
  gateway.admission.guard(http, 'ws');
  if (options.tls) http.on('tlsClientError', destroyTlsSocket);
  http.on('request', (_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end(`connect with a WebSocket to ${options.path ?? WEBSOCKET_PATH}\n`);
  });
  const wss = new WebSocketServer<typeof DeviceWebSocket>({
    WebSocket: DeviceWebSocket,
    server: http,
    path: options.path ?? WEBSOCKET_PATH,
    maxPayload: gateway.connectionOptions.maxFrameBytes,
    // Compression costs ~300 KB of zlib state per connection; pushes are small JSON.
    perMessageDeflate: false,
    // The gateway tracks every connection already; `ws` would keep a second set of them.
    clientTracking: false,
  });
  // `ws` re-emits the HTTP server's errors on itself, before listenOn hears them: without a listener here
  // a taken port threw from that emit, and listenOn's promise never settled (the start hung). The bind
  // error is listenOn's to report.
  wss.on('error', ignoreError);
  wss.on('connection', (socket: DeviceWebSocket, request) => {
    // `ws` closes with 1009 by itself when a message exceeds maxPayload (DeviceWebSocket sends the error
    // frame first); the link only needs the rest.
    socket.on('error', ignoreError);
    const ticket: AdmissionTicket | undefined = gateway.admission.ticketOf(request.socket);
    gateway.accept(
      webSocketLink(socket, {
        maxFrameBytes: gateway.connectionOptions.maxFrameBytes,
        terminate: () => socket.terminate(),
        remoteAddress: request.socket.remoteAddress,
        // `ws` writes straight to the upgraded socket (no compression here), so its drain is the link's.
        drainSource: request.socket,
      }),
      ticket,
    );
  });
  const listener = await listenOn(http, address, 'WebSocket');
  return {
    address: listener.address,
    close: async () => {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await listener.close();
    },
  };
}

async function listenOn(server: net.Server, address: ListenAddress, what: string): Promise<Listener> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new LocalpushError(
          ServerErrorCode.LISTEN_FAILED,
          `cannot listen for ${what} on ${address.host}:${address.port}: ${error.code ?? error.message}` +
            (error.code === 'EADDRINUSE' ? ' (the port is taken)' : ''),
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen({ port: address.port, host: address.host, backlog: ACCEPT_BACKLOG }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}
