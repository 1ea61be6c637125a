/**
 * GET /v1/receipts/stream: a Server-Sent Events feed of receipts as the engine records them. Each one is
 * `event: receipt` with a JSON `data:` line; a comment line every heartbeat interval keeps proxies from
 * closing an idle stream. The receipt listener and the timer go away when the client disconnects, when
 * the client reads too slowly, or when the server closes.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '@localpush/protocol';
import type { FastifyReply } from 'fastify';
import type { Receipt, ReceiptEvent } from '../store/types.js';
import type { DeliveryEngine } from '../engine/types.js';

/** A receipt as the feed (and GET /v1/messages/:id) shows it. */
export interface ReceiptView {
  id: string;
  device: string;
  event: Receipt['event'];
  at: number;
  detail: string | null;
}

/** The feed's view of a receipt. */
export function receiptView(receipt: Receipt): ReceiptView {
  return {
    id: receipt.messageId,
    device: receipt.deviceId,
    event: receipt.event,
    at: receipt.at,
    detail: receipt.detail,
  };
}

/** Which receipts a feed carries; everything when empty. */
export interface ReceiptFilter {
  /** Only this device's receipts. */
  device?: string | undefined;
  /** Only receipts of these events (e.g. `accepted` and `acked`, for a consumer that measures delivery). */
  events?: readonly ReceiptEvent[] | undefined;
}

export interface ReceiptStreamOptions {
  engine: Pick<DeliveryEngine, 'onReceipt'>;
  clock: Clock;
  heartbeatMs: number;
  /** A client that has this many bytes unread is dropped (it can reconnect). */
  maxBufferedBytes: number;
}

/** The open SSE streams of one API instance. */
export class ReceiptStreams {
  private readonly open = new Set<() => void>();

  constructor(private readonly options: ReceiptStreamOptions) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * Takes over the reply and streams receipts until the client goes: of `filter.device` only, and of the
   * `filter.events` kinds only, when given.
   */
  serve(reply: FastifyReply, filter: ReceiptFilter = {}): void {
    reply.hijack();
    const raw: ServerResponse = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.flushHeaders();
    raw.write(': connected\n\n');

    let timer: TimerHandle | undefined;
    let closed = false;
    /** Events of this turn of the event loop, written together by `flush`. */
    let pending = '';
    let flushScheduled = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (timer !== undefined) this.options.clock.clearTimeout(timer);
      this.open.delete(close);
      if (!raw.writableEnded) raw.end();
    };
    const flush = (): void => {
      flushScheduled = false;
      const chunk = pending;
      pending = '';
      if (closed || chunk === '') return;
      if (raw.writableLength > this.options.maxBufferedBytes) {
        close();
        return;
      }
      raw.write(chunk);
    };
    // One write per turn of the event loop rather than one per receipt: a message makes three receipts
    // and a busy server thousands a second, and every write to a response costs a cork, a syscall and a
    // chunk header. setImmediate, not the injected clock: this is "after the current burst", not a delay.
    const write = (chunk: string): void => {
      if (closed) return;
      pending += chunk;
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(flush);
    };
    const { device, events } = filter;
    const wanted = events === undefined ? undefined : new Set<ReceiptEvent>(events);
    const unsubscribe = this.options.engine.onReceipt((receipt) => {
      if (device !== undefined && receipt.deviceId !== device) return;
      if (wanted !== undefined && !wanted.has(receipt.event)) return;
      write(`event: receipt\ndata: ${JSON.stringify(receiptView(receipt))}\n\n`);
    });
    const beat = (): void => {
      write(': heartbeat\n\n');
      if (!closed) timer = this.options.clock.setTimeout(beat, this.options.heartbeatMs);
    };
    timer = this.options.clock.setTimeout(beat, this.options.heartbeatMs);
    this.open.add(close);
    // The response's close, not the request's: a GET's request stream closes as soon as it was read.
    raw.once('close', close);
    raw.once('error', close);
  }

  /** Ends every stream (server shutdown), so that closing the server does not wait for clients. */
  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}
