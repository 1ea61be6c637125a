/**
 * Two connected in-memory Duplex streams: what one writes, the other reads. Node ≥ 22.6 has
 * stream.duplexPair(); Node 20 does not, so the tests carry this small equivalent. It behaves like a
 * TCP socket pair where it matters: back-pressure (a reader that stops reading makes the writer's queue
 * grow), no half-open (an ended side ends the other), and destroy resets both.
 */
import { Duplex } from 'node:stream';

class Half extends Duplex {
  other: Half | undefined;
  /** A write waiting for the peer to read before it completes — this is how back-pressure shows. */
  private blocked: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    const resume = this.other?.blocked;
    if (resume && this.other) {
      this.other.blocked = undefined;
      resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const other = this.other;
    if (!other) {
      callback(new Error('peer closed'));
      return;
    }
    if (other.push(chunk)) callback();
    else this.blocked = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    if (other && !other.destroyed) {
      other.push(null);
      other.destroy();
    }
    callback(error);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new Half();
  const b = new Half();
  a.other = b;
  b.other = a;
  return [a, b];
}
