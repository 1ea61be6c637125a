/**
 * Delivery bookkeeping: which pushes are new, which are repeats, and how far the resume cursor may
 * advance. Kept free of I/O so the client only decides when to emit and when to ack.
 */
import { DedupeWindow, DEFAULT_DEDUPE_WINDOW } from './dedupe.js';

/** What an arriving push is, from the client's point of view. */
export type Arrival =
  /** Never seen: hand it to the app. */
  | 'new'
  /** Seen, but its handler failed: hand it to the app again. */
  | 'retry'
  /** Seen and still being handled: its ack follows when the handler finishes. */
  | 'in-flight'
  /** Seen and handled: ack it again, do not re-emit. [LP-6.4] */
  | 'processed';

/**
 * A push being processed, in arrival order, so the cursor never passes one that is not done. A failed
 * push stays (and holds back the cursor and the entries after it) until the server redelivers it — at the
 * latest after the next reconnect, whose resume cursor stops short of it.
 */
interface Pending {
  id: string;
  seq: number;
  status: 'running' | 'done' | 'failed';
}

/** Tracks pushes from arrival to completion and derives the resume cursor. */
export class DeliveryTracker {
  private readonly dedupe: DedupeWindow;
  private readonly order: Pending[] = [];
  private readonly inFlight = new Map<string, Pending>();
  private _lastSeq: number | undefined;

  constructor(dedupeWindow: number = DEFAULT_DEDUPE_WINDOW, resumeFrom?: number) {
    this.dedupe = new DedupeWindow(dedupeWindow);
    this._lastSeq = resumeFrom;
  }

  /**
   * The highest seq such that it and every push that arrived before it were processed; the `through` of
   * acks and the hello's resume cursor. [LP-4.5, LP-6.5]
   */
  get lastSeq(): number | undefined {
    return this._lastSeq;
  }

  /** Classifies an arriving push and starts tracking it when it is new or retried. */
  arrive(id: string, seq: number): Arrival {
    const pending = this.inFlight.get(id);
    if (pending !== undefined) {
      if (pending.status !== 'failed') return 'in-flight';
      pending.status = 'running';
      return 'retry';
    }
    if (this.dedupe.has(id)) return 'processed';
    const entry: Pending = { id, seq, status: 'running' };
    this.order.push(entry);
    this.inFlight.set(id, entry);
    return 'new';
  }

  /** The app has the push: remember its id and move the cursor over the finished prefix. */
  succeeded(id: string): void {
    const entry = this.inFlight.get(id);
    if (entry === undefined) return;
    entry.status = 'done';
    this.inFlight.delete(id);
    this.dedupe.add(id);
    for (let head = this.order[0]; head?.status === 'done'; head = this.order[0]) {
      this._lastSeq = Math.max(this._lastSeq ?? 0, head.seq);
      this.order.shift();
    }
  }

  /** The handler failed: keep the push unacknowledged so a redelivery runs it again. */
  failed(id: string): void {
    const entry = this.inFlight.get(id);
    if (entry !== undefined) entry.status = 'failed';
  }
}
