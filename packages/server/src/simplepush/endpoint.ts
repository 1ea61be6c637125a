/**
 * One end of a SimplePush connection over any Duplex: framing, acknowledgements, and request timeouts.
 * The gateway and the test client both sit on it, so each holds only its own behaviour (who registers,
 * who sends heartbeats, what a timeout means) and none of the byte handling.
 */
import { randomInt } from 'node:crypto';
import type { Clock, TimerHandle } from '@localpush/protocol';
import {
  SimplePushError,
  SpFrameDecoder,
  decodeSpEnvelope,
  encodeSpAcknowledge,
  encodeSpFrame,
  encodeSpRequest,
  type SimplePushErrorCode,
  type SpMessage,
} from './codec.js';

/** The parts of a Node Duplex (tls.TLSSocket, net.Socket, in-memory pairs) that an endpoint uses. */
export interface SpStream {
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly destroyed?: boolean;
  readonly remoteAddress?: string | undefined;
}

/** How a request ended. */
export type SpRequestOutcome = 'acknowledged' | 'timeout' | 'closed';

/** Why an endpoint closed: a SimplePush error code, or `peer` when the other side (or the network) closed. */
export type SpCloseReason = SimplePushErrorCode | 'peer' | 'local';

/** What an endpoint reports to its owner. */
export interface SpEndpointHandlers {
  /** A request arrived; it has already been acknowledged. */
  request(message: SpMessage, requestIdentifier: number): void;
  /** The stream broke the protocol; the endpoint closes right after this. */
  protocolError?(error: SimplePushError): void;
  /** The endpoint closed. Called exactly once. */
  close(reason: SpCloseReason): void;
}

export interface SpEndpointOptions {
  clock: Clock;
  /** How long a request may wait for its acknowledgement. The sample uses 10 s. */
  ackTimeoutMs: number;
  maxFrameBytes: number;
  /** Source of request identifiers (uint32); random by default, as in the sample. */
  randomId?: () => number;
  /**
   * Whether requests are acknowledged. Always true on the gateway; the test client turns it off to play
   * an unresponsive device.
   */
  acknowledge?: () => boolean;
}

interface Pending {
  timer: TimerHandle;
  done: (outcome: SpRequestOutcome) => void;
}

/** A framed, acknowledging SimplePush connection end. */
export class SpEndpoint {
  private readonly decoder: SpFrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private handlers: SpEndpointHandlers | undefined;

  constructor(
    private readonly stream: SpStream,
    private readonly options: SpEndpointOptions,
  ) {
    this.decoder = new SpFrameDecoder(options.maxFrameBytes);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get remoteAddress(): string | undefined {
    return this.stream.remoteAddress;
  }

  /** Starts reading. Call once. */
  start(handlers: SpEndpointHandlers): void {
    this.handlers = handlers;
    this.stream.on('data', (chunk) => this.receive(chunk));
    this.stream.on('end', () => {
      if (this.closed) return;
      try {
        this.decoder.end();
      } catch (error) {
        if (!(error instanceof SimplePushError)) throw error;
        handlers.protocolError?.(error);
        this.close(error.code);
        return;
      }
      this.close('peer');
    });
    // Errors (resets, TLS alerts) end in 'close'; listening keeps them from being unhandled.
    this.stream.on('error', () => {});
    this.stream.on('close', () => this.close('peer'));
    if (this.stream.destroyed === true) this.close('peer');
  }

  /**
   * Sends a request; `done` is called once, when the peer acknowledges it, when `ackTimeoutMs` passes, or
   * when the endpoint closes first. Returns the request identifier.
   */
  request(message: SpMessage, done: (outcome: SpRequestOutcome) => void = () => {}): number {
    if (this.closed) {
      done('closed');
      return -1;
    }
    let id = this.nextId();
    while (this.pending.has(id)) id = this.nextId();
    const timer = this.options.clock.setTimeout(() => {
      if (this.pending.delete(id)) done('timeout');
    }, this.options.ackTimeoutMs);
    this.pending.set(id, { timer, done });
    this.stream.write(encodeSpFrame(encodeSpRequest(id, message)));
    return id;
  }

  /** Sends a request and resolves with its outcome (never rejects). */
  requestAsync(message: SpMessage): Promise<SpRequestOutcome> {
    return new Promise((resolve) => this.request(message, resolve));
  }

  /** Closes the connection and fails every pending request with `closed`. Idempotent. */
  close(reason: SpCloseReason = 'local'): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      this.options.clock.clearTimeout(p.timer);
      p.done('closed');
    }
    this.handlers?.close(reason);
  }

  private nextId(): number {
    return this.options.randomId?.() ?? randomInt(0, 0x1_0000_0000);
  }

  private receive(chunk: Uint8Array): void {
    if (this.closed) return;
    const handlers = this.handlers;
    if (!handlers) return;
    try {
      for (const payload of this.decoder.push(chunk)) {
        if (this.closed) return;
        const envelope = decodeSpEnvelope(payload);
        if (envelope.command === 'acknowledge') {
          const p = this.pending.get(envelope.requestIdentifier);
          // An ack for nothing we sent (late, after a timeout) is harmless; the sample ignores it too.
          if (p === undefined) continue;
          this.pending.delete(envelope.requestIdentifier);
          this.options.clock.clearTimeout(p.timer);
          p.done('acknowledged');
          continue;
        }
        if (this.options.acknowledge?.() ?? true) {
          this.stream.write(encodeSpFrame(encodeSpAcknowledge(envelope.requestIdentifier)));
        }
        handlers.request(envelope.message, envelope.requestIdentifier);
      }
    } catch (error) {
      if (!(error instanceof SimplePushError)) throw error;
      handlers.protocolError?.(error);
      this.close(error.code);
    }
  }
}
