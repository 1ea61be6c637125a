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
import { WebSocketServer, type WebSocket } from 'ws';
import { LocalpushError, ServerErrorCode } from '../errors.js';
import { tlsServerOptions, type TlsIdentity } from '../identity.js';
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
    handshakeTimeout: gateway.connectionOptions.helloTimeoutMs,
  });
  tlsServer.on('secureConnection', (socket) => {
    socket.setNoDelay(true);
    gateway.accept(streamLink(socket, { maxFrameBytes: gateway.connectionOptions.maxFrameBytes }));
  });
  // Handshake failures (garbage, wrong protocol, scanners) are the peer's problem; the socket is already
  // destroyed by Node. Listening here keeps them from surfacing as unhandled errors.
  tlsServer.on('tlsClientError', () => {});

  const front = net.createServer({ noDelay: true }, (socket) => {
    // This socket lives on under the TLS socket (as its parent) for as long as the connection does, so
    // nothing per connection stays attached to it: a shared error listener, and the sniffing deadline on
    // the injected clock rather than socket.setTimeout, whose Timeout object, bound callback and
    // 'timeout' listener Node keeps on the socket even after setTimeout(0).
    socket.on('error', destroySocket);
    const deadline = gateway.clock.setTimeout(
      () => socket.destroy(),
      gateway.connectionOptions.helloTimeoutMs,
    );
    const closedEarly = (): void => gateway.clock.clearTimeout(deadline);
    socket.once('close', closedEarly);
    socket.once('data', (head: Buffer) => {
      socket.pause();
      gateway.clock.clearTimeout(deadline);
      socket.off('close', closedEarly);
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

/** Errors a WebSocket reports before closing: the link hears about the close itself. One for all sockets. */
function ignoreError(): void {}

/** Plain TCP device listener (no TLS): for development, benchmarks, or behind a TLS-terminating proxy. */
export async function listenTcp(gateway: Gateway, address: ListenAddress): Promise<Listener> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    gateway.accept(streamLink(socket, { maxFrameBytes: gateway.connectionOptions.maxFrameBytes }));
  });
  return listenOn(server, address, 'TCP');
}

export interface WebSocketListenOptions {
  /** Serve wss:// with this identity; plain ws:// when absent. */
  tls?: TlsIdentity;
  /** The URL path devices connect to. */
  path?: string;
}

/** The path devices connect to over WebSocket. [LP-2.6] */
export const WEBSOCKET_PATH = '/v1/connect';

/** WebSocket device listener: one protocol message per WebSocket message. [LP-2.6] */
export async function listenWebSocket(
  gateway: Gateway,
  address: ListenAddress,
  options: WebSocketListenOptions = {},
): Promise<Listener> {
  const http: HttpServer = options.tls
    ? createHttpsServer(tlsServerOptions(options.tls))
    : createHttpServer();
  http.on('request', (_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end(`connect with a WebSocket to ${options.path ?? WEBSOCKET_PATH}\n`);
  });
  const wss = new WebSocketServer({
    server: http,
    path: options.path ?? WEBSOCKET_PATH,
    maxPayload: gateway.connectionOptions.maxFrameBytes,
    // Compression costs ~300 KB of zlib state per connection; pushes are small JSON.
    perMessageDeflate: false,
    // The gateway tracks every connection already; `ws` would keep a second set of them.
    clientTracking: false,
  });
  wss.on('connection', (socket: WebSocket, request) => {
    // `ws` closes with 1009 by itself when a message exceeds maxPayload; the link only needs the rest.
    socket.on('error', ignoreError);
    gateway.accept(
      webSocketLink(socket, {
        maxFrameBytes: gateway.connectionOptions.maxFrameBytes,
        terminate: () => socket.terminate(),
        remoteAddress: request.socket.remoteAddress,
      }),
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
            (error.code === 'EADDRINUSE' ? ' (the port is taken: choose another with the port option)' : ''),
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
