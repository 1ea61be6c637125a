/**
 * Two connected in-memory Duplex streams: bytes written to one are read from the other. Node ≥ 22.6 has
 * stream.duplexPair(), Node 20 does not, so the tests carry this equivalent. Where the link cares it
 * acts like a TCP socket pair: a side whose reader is paused holds the peer's writes (so writableLength
 * grows, which is what flow control watches), ending one side ends the other's readable half, there is
 * no half-open state, and destroying one side closes both.
 */
import { Duplex } from 'node:stream';

class Side extends Duplex {
  peer: Side | undefined;
  /** Completes a write the peer has not read yet: that is back-pressure. */
  private pendingWrite: (() => void) | undefined;

  constructor() {
    // A socket without allowHalfOpen closes its writable half when the readable half ends.
    super({ allowHalfOpen: false, highWaterMark: 16 });
  }

  override _read(): void {
    const peer = this.peer;
    const resume = peer?.pendingWrite;
    if (peer !== undefined && resume !== undefined) {
      peer.pendingWrite = undefined;
      resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === undefined) {
      callback(new Error('the other side is closed'));
      return;
    }
    if (peer.push(chunk)) callback();
    else this.pendingWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    const resume = this.pendingWrite;
    this.pendingWrite = undefined;
    resume?.();
    if (peer !== undefined) {
      peer.peer = undefined;
      if (!peer.destroyed) {
        peer.push(null);
        peer.destroy();
      }
    }
    callback(error);
  }
}

/** Returns two connected streams, like the two ends of a TCP connection. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new Side();
  const b = new Side();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
