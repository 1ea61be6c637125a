/**
 * The one length-prefix decoder: a 4-byte unsigned length, in either byte order, then that many bytes.
 * localpush's own framing is big-endian [LP-2]; Apple's SimplePush sample is little-endian. Each codec
 * gives its own rules for a length (which are errors, and which error) and for a truncated stream, and
 * shares the buffering: incremental, chunks of any size, one byte at a time included, copying only when
 * a frame spans chunks.
 */

/** Bytes of the length prefix. */
export const LENGTH_PREFIX_BYTES = 4;

const EMPTY = new Uint8Array(0);

/** How one codec's frames are delimited. */
export interface LengthPrefixRules {
  /** Byte order of the prefix: true for little-endian (SimplePush), false for big-endian (localpush). */
  readonly littleEndian: boolean;
  /** The error for a frame that announces `length` bytes, or undefined when the length is acceptable. */
  checkLength(length: number): Error | undefined;
  /** The error for a stream that ended `missing` bytes short of a complete frame. */
  truncated(missing: number): Error;
}

/** Writes `payload` after its 4-byte length, in the given byte order. */
export function lengthPrefixed(payload: Uint8Array, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + payload.byteLength);
  new DataView(out.buffer, out.byteOffset, LENGTH_PREFIX_BYTES).setUint32(
    0,
    payload.byteLength,
    littleEndian,
  );
  out.set(payload, LENGTH_PREFIX_BYTES);
  return out;
}

/**
 * Splits a byte stream into frame payloads. A header whose length the rules refuse fails the decoder as
 * soon as it arrives — before any of its body is buffered, so a peer cannot make it hold more than one
 * maximum frame. Frames completed before the bad header are still returned by that `push`; the error is
 * then readable at once from {@link failure} and thrown by the next `push` or `end`. A failed decoder
 * stays failed: the stream cannot be resynchronised.
 */
export class LengthPrefixDecoder {
  /** Bytes received but not yet returned, as a list so that small chunks are not copied repeatedly. */
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Length of the frame being assembled, or -1 while its header is incomplete. */
  private expected = -1;
  private failed: Error | undefined;

  constructor(private readonly rules: LengthPrefixRules) {}

  /** Bytes held for an incomplete frame. Non-zero at end of stream means truncation. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** The error that stopped this decoder, if any. Nothing is decoded after it. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** The payloads completed by `chunk`. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    if (chunk.byteLength === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < LENGTH_PREFIX_BYTES) break;
        const header = this.take(LENGTH_PREFIX_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, LENGTH_PREFIX_BYTES).getUint32(
          0,
          this.rules.littleEndian,
        );
        const error = this.rules.checkLength(length);
        if (error !== undefined) {
          this.fail(error);
          if (frames.length === 0) throw error;
          return frames;
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = -1;
    }
    // An empty array keeps the backing store its pushes grew (~100 bytes); truncating releases it, which
    // matters for a server holding thousands of idle connections with one decoder each.
    if (this.buffered === 0) this.chunks.length = 0;
    return frames;
  }

  /** Throws when the stream ended inside a frame (or the decoder had failed). Call it when the peer closes. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.buffered > 0 || this.expected >= 0) {
      const missing =
        this.expected >= 0 ? this.expected - this.buffered : LENGTH_PREFIX_BYTES - this.buffered;
      const error = this.rules.truncated(missing);
      this.fail(error);
      throw error;
    }
  }

  /** Drops everything buffered. */
  private fail(error: Error): void {
    this.failed = error;
    this.chunks = [];
    this.buffered = 0;
    this.expected = -1;
  }

  /** Removes exactly `n` buffered bytes from the front, copying only when they span chunks. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first === undefined) return EMPTY;
    this.buffered -= n;
    if (first.byteLength === n) {
      this.chunks.shift();
      return first;
    }
    if (first.byteLength > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      if (head === undefined) break;
      const want = n - filled;
      if (head.byteLength <= want) {
        out.set(head, filled);
        filled += head.byteLength;
        this.chunks.shift();
      } else {
        out.set(head.subarray(0, want), filled);
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}
