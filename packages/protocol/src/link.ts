/**
 * Frame links: the thin adapters between a transport and a protocol connection. A connection — on the
 * server or in the client — talks to a {@link FrameLink} and never to a socket, so the same connection
 * code runs over TLS, plain TCP, WebSocket, or an in-memory duplex pair in tests.
 *
 * This module does no I/O of its own: it wraps a stream or WebSocket that the caller created.
 */
import { ProtocolError } from './errors.js';
import { FrameDecoder, frame } from './frame.js';
import { DEFAULT_MAX_FRAME_BYTES } from './messages.js';

/** What a link reports to the connection that owns it. */
export interface LinkHandlers {
  /** One complete frame payload (for streams, without the length prefix). */
  frame(payload: Uint8Array): void;
  /** The byte stream broke the framing rules; the link is about to be closed by its owner. */
  protocolError(error: ProtocolError): void;
  /** The transport closed, cleanly (no error) or not. Called exactly once. */
  close(error?: Error): void;
  /**
   * The send buffer emptied after a send had filled it past the transport's own high-water mark (the
   * stream's 'drain'): write more now. Links over a transport that cannot tell never call it.
   */
  drain?(): void;
}

/** A bidirectional pipe of frame payloads. */
export interface FrameLink {
  /** Starts reading; handlers are called from then on. Call once. */
  start(handlers: LinkHandlers): void;
  /** Queues one payload for sending. Never blocks; watch {@link bufferedBytes} for back-pressure. */
  send(payload: Uint8Array): void;
  /** Bytes accepted by `send` and not yet handed to the operating system. */
  readonly bufferedBytes: number;
  /** Flushes what is queued, then closes. */
  end(): void;
  /** Closes at once, dropping anything queued. */
  destroy(): void;
  /** The peer's address, for logs; undefined when the transport has none. */
  readonly remoteAddress: string | undefined;
}

/** The parts of a Node Duplex (net.Socket, tls.TLSSocket, PassThrough pairs) that a stream link uses. */
export interface DuplexLike {
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'drain', listener: () => void): unknown;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly writableLength: number;
  readonly remoteAddress?: string | undefined;
}

export interface LinkOptions {
  /** Largest frame payload accepted from the peer. [LP-2.3] */
  maxFrameBytes?: number;
}

/** Length-prefixed framing over a byte stream. [LP-2.1] */
export function streamLink(stream: DuplexLike, options: LinkOptions = {}): FrameLink {
  return new StreamLink(stream, options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
}

/**
 * The stream link as a class rather than a closure over an object literal: a server holds one per idle
 * connection, and prototype methods cost nothing per instance, where six closures, their context and an
 * object literal with accessors (kept by V8 as a dictionary) cost about 1 KB of heap each time.
 */
class StreamLink implements FrameLink {
  private readonly decoder: FrameDecoder;
  private handlers: LinkHandlers | undefined;
  private closed = false;
  private failed = false;
  /** Set by destroy(): frames already read but not yet delivered are dropped with the connection. */
  private destroyed = false;
  private lastError: Error | undefined;

  constructor(
    private readonly stream: DuplexLike,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
  }

  start(handlers: LinkHandlers): void {
    this.handlers = handlers;
    this.stream.on('data', (chunk) => this.onData(chunk));
    this.stream.on('end', () => this.onEnd());
    this.stream.on('error', (error) => {
      this.lastError ??= error;
    });
    this.stream.on('close', () => this.finish());
    if (handlers.drain !== undefined) this.stream.on('drain', () => this.handlers?.drain?.());
  }

  send(payload: Uint8Array): void {
    if (this.closed) return;
    this.stream.write(frame(payload));
  }

  get bufferedBytes(): number {
    return this.stream.writableLength;
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    this.destroyed = true;
    this.stream.destroy();
  }

  get remoteAddress(): string | undefined {
    return this.stream.remoteAddress;
  }

  private onData(chunk: Uint8Array): void {
    const h = this.handlers;
    if (this.failed || h === undefined) return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.failed = true;
      if (error instanceof ProtocolError) h.protocolError(error);
      else throw error;
      return;
    }
    for (const payload of frames) {
      if (this.closed || this.failed || this.destroyed) return;
      h.frame(payload);
    }
    // Good frames ahead of a bad header were delivered above; now report the header. [LP-2.4]
    const failure = this.decoder.failure;
    if (failure !== undefined && !this.failed && !this.destroyed) {
      this.failed = true;
      h.protocolError(failure);
    }
  }

  private onEnd(): void {
    if (this.failed) return;
    try {
      this.decoder.end();
    } catch (error) {
      this.failed = true;
      if (error instanceof ProtocolError) this.handlers?.protocolError(error);
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close(this.lastError);
  }
}

/** The parts of a WebSocket (the `ws` package, or the WHATWG WebSocket of Node 22+ and browsers) used here. */
export interface WebSocketLike {
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  readonly bufferedAmount: number;
  readonly readyState: number;
  /** WHATWG WebSockets deliver binary messages as Blob unless this is "arraybuffer"; `ws` accepts it too. */
  binaryType?: string;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/** WebSocket close codes used by the link. */
export const WS_CLOSE = { normal: 1000, protocolError: 1002, tooBig: 1009 } as const;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** One frame per WebSocket message, sent as text (JSON); text and binary are both accepted. [LP-2.6] */
export function webSocketLink(
  socket: WebSocketLike,
  options: LinkOptions & {
    terminate?: () => void;
    remoteAddress?: string;
    /**
     * The byte stream under the WebSocket (for `ws`, the upgraded socket), whose 'drain' is the link's:
     * a WebSocket has no drain event of its own, and its bufferedAmount is that stream's queue.
     */
    drainSource?: { on(event: 'drain', listener: () => void): unknown };
  } = {},
): FrameLink {
  return new WebSocketLink(
    socket,
    options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    options.terminate,
    options.remoteAddress,
    options.drainSource,
  );
}

/** A class for the same reason as {@link StreamLink}: a server holds one per idle WebSocket device. */
class WebSocketLink implements FrameLink {
  private closed = false;
  private error: Error | undefined;

  constructor(
    private readonly socket: WebSocketLike,
    private readonly maxFrameBytes: number,
    private readonly terminate: (() => void) | undefined,
    readonly remoteAddress: string | undefined,
    private readonly drainSource: { on(event: 'drain', listener: () => void): unknown } | undefined,
  ) {}

  start(h: LinkHandlers): void {
    const socket = this.socket;
    // A Blob can only be read asynchronously, which would break frame order; ask for ArrayBuffers. [LP-2.6]
    if (socket.binaryType === 'blob') socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => this.onMessage(h, event.data));
    socket.addEventListener('error', (event) => {
      const cause = (event as { error?: unknown }).error;
      this.error ??= cause instanceof Error ? cause : new Error('WebSocket error');
    });
    socket.addEventListener('close', () => {
      this.closed = true;
      h.close(this.error);
    });
    if (h.drain !== undefined) this.drainSource?.on('drain', () => h.drain?.());
  }

  send(payload: Uint8Array): void {
    if (this.socket.readyState !== 1) return;
    // Text frames keep the JSON readable in browser dev tools and by any WebSocket client. [LP-2.6]
    this.socket.send(textDecoder.decode(payload));
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  end(): void {
    this.socket.close(WS_CLOSE.normal);
  }

  destroy(): void {
    if (this.terminate) this.terminate();
    else this.socket.close(WS_CLOSE.normal);
  }

  private onMessage(h: LinkHandlers, data: unknown): void {
    if (this.closed) return;
    const payload = toBytes(data);
    if (payload.byteLength > this.maxFrameBytes) {
      this.closed = true;
      h.protocolError(
        new ProtocolError(
          'LP_FRAME_TOO_LARGE',
          `message of ${payload.byteLength} bytes exceeds the maximum of ${this.maxFrameBytes} [LP-2.3]`,
        ),
      );
      return;
    }
    h.frame(payload);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return textEncoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    // `ws` delivers fragmented binary messages as Buffer[] when binaryType is "fragments".
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
  return new Uint8Array(0);
}
