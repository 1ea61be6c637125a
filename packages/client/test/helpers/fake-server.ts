/**
 * A scriptable, test-only push server built from @localpush/protocol. It accepts real loopback
 * connections (TCP, TLS or WebSocket on port 0) and hands each to the test as a {@link FakeConnection},
 * which reads the client's frames and sends whatever the test scripts — including things a real server
 * never would. The real server lives in packages/server; these tests must not depend on it.
 */
import { once } from 'node:events';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import { WebSocketServer } from 'ws';
import {
  decodeClientMessage,
  encodeMessage,
  type ClientMessage,
  type ServerMessage,
  type Welcome,
} from '@localpush/protocol';
import { streamLink, webSocketLink, type FrameLink } from '@localpush/protocol/link';

/** A FIFO whose `shift` waits for the next item. */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  shift(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get length(): number {
    return this.items.length;
  }
}

/** One client connection as seen by the fake server. */
export class FakeConnection {
  /** Every frame the client sent, decoded, in order. */
  readonly received: ClientMessage[] = [];
  private readonly queue = new AsyncQueue<ClientMessage>();
  /** Resolves when the transport is closed. */
  readonly closed: Promise<void>;
  isClosed = false;
  /** Raw bytes received before any framing; for "nothing was sent" checks on TLS. */
  bytesReceived = 0;

  constructor(private readonly link: FrameLink) {
    let resolveClosed!: () => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    link.start({
      frame: (payload) => {
        const message = decodeClientMessage(payload);
        this.received.push(message);
        this.queue.push(message);
      },
      protocolError: () => link.destroy(),
      close: () => {
        this.isClosed = true;
        resolveClosed();
      },
    });
  }

  /** The next frame from the client. */
  next(): Promise<ClientMessage> {
    return this.queue.shift();
  }

  /** The next frame, which must be of `type`. */
  async expect<T extends ClientMessage['type']>(type: T): Promise<Extract<ClientMessage, { type: T }>> {
    const message = await this.next();
    if (message.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(message)}`);
    return message as Extract<ClientMessage, { type: T }>;
  }

  send(...messages: ServerMessage[]): void {
    for (const m of messages) this.link.send(encodeMessage(m));
  }

  /** Sends a frame payload that is not (necessarily) a valid message. */
  sendPayload(payload: Uint8Array): void {
    this.link.send(payload);
  }

  /** Reads the hello and answers with a welcome. */
  async accept(overrides: Partial<Welcome> = {}): Promise<ClientMessage> {
    const hello = await this.expect('hello');
    this.send(welcome(overrides));
    return hello;
  }

  end(): void {
    this.link.end();
  }

  destroy(): void {
    this.link.destroy();
  }
}

/** A welcome with test-friendly defaults. */
export function welcome(overrides: Partial<Welcome> = {}): Welcome {
  return {
    type: 'welcome',
    version: 1,
    sessionId: 'session-1',
    heartbeatIntervalMs: 1_000,
    heartbeatGraceMs: 500,
    serverTime: 1_700_000_000_000,
    maxFrameBytes: 65_536,
    capabilities: [],
    ...overrides,
  };
}

/** TLS material for {@link FakeServer.start}. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/** A loopback server of one transport kind. */
export class FakeServer {
  readonly connections = new AsyncQueue<FakeConnection>();
  readonly all: FakeConnection[] = [];
  /** Raw sockets, for checks below the framing. */
  readonly sockets: Socket[] = [];

  private constructor(
    readonly url: string,
    private readonly closer: () => Promise<void>,
  ) {}

  /** Starts a server on 127.0.0.1, port 0. `ws` serves at path /push. */
  static async start(kind: 'tcp' | 'tls' | 'ws' | 'wss', tls?: TlsMaterial): Promise<FakeServer> {
    let server: FakeServer;
    const add = (link: FrameLink): void => {
      const connection = new FakeConnection(link);
      server.all.push(connection);
      server.connections.push(connection);
    };
    if (kind === 'ws' || kind === 'wss') {
      let http: NetServer | undefined;
      let wss: WebSocketServer;
      if (kind === 'wss') {
        if (tls === undefined) throw new Error('wss needs TLS material');
        const https = await import('node:https');
        http = https.createServer({ cert: tls.cert, key: tls.key });
        wss = new WebSocketServer({ server: http as unknown as HttpServer, path: '/push' });
        http.listen(0, '127.0.0.1');
        await once(http, 'listening');
      } else {
        wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/push' });
        await once(wss, 'listening');
      }
      const port = ((http ?? wss).address() as AddressInfo).port;
      wss.on('connection', (socket) => add(webSocketLink(socket, { terminate: () => socket.terminate() })));
      server = new FakeServer(`${kind}://127.0.0.1:${port}/push`, async () => {
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
      });
      return server;
    }
    const onSocket = (socket: Socket): void => {
      server.sockets.push(socket);
      socket.on('error', () => {});
      const link = streamLink(socket);
      add(link);
      const connection = server.all[server.all.length - 1];
      socket.on('data', (chunk: Buffer) => {
        if (connection) connection.bytesReceived += chunk.length;
      });
    };
    const net: NetServer =
      kind === 'tls'
        ? createTlsServer({ cert: tls?.cert, key: tls?.key }, onSocket)
        : createNetServer(onSocket);
    // A failed TLS handshake (pin mismatch, untrusted CA) surfaces here, not on a connection.
    net.on('tlsClientError', () => {});
    net.listen(0, '127.0.0.1');
    await once(net, 'listening');
    const port = (net.address() as AddressInfo).port;
    server = new FakeServer(`${kind}://127.0.0.1:${port}`, async () => {
      for (const s of server.sockets) s.destroy();
      await new Promise<void>((resolve) => net.close(() => resolve()));
    });
    return server;
  }

  /** The next accepted connection. */
  next(): Promise<FakeConnection> {
    return this.connections.shift();
  }

  close(): Promise<void> {
    return this.closer();
  }
}
