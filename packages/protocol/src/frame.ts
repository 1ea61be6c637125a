/**
 * Stream framing [LP-2]: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
 * The decoder is incremental: feed it chunks of any size, one byte at a time included.
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { ABSOLUTE_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from './messages.js';

const EMPTY = new Uint8Array(0);

/** Prefixes `payload` with its 4-byte big-endian length. [LP-2.1] */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES).setUint32(0, payload.byteLength, false);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Checks a configured frame limit, so that a typo fails at start-up and not on the first big frame. */
export function checkMaxFrameBytes(maxFrameBytes: number): number {
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 256 || maxFrameBytes > ABSOLUTE_MAX_FRAME_BYTES) {
    throw new RangeError(
      `maxFrameBytes must be an integer from 256 to ${ABSOLUTE_MAX_FRAME_BYTES}, got ${maxFrameBytes}`,
    );
  }
  return maxFrameBytes;
}

/**
 * Splits a byte stream into frame payloads. `push` returns the payloads completed by the chunk and throws
 * a {@link ProtocolError} as soon as a header announces an oversize or empty frame — before any of its
 * body is buffered, so an attacker cannot make the decoder hold more than one maximum frame. [LP-2.3]
 *
 * Frames that precede a bad header are still returned, whatever the chunking: when one chunk holds good
 * frames and then a bad header, `push` returns the good frames and the error is thrown by the next `push`
 * or `end` and is readable at once from {@link failure}. A failed decoder stays failed. [LP-2.4]
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  /** Bytes received but not yet returned, as a list so that small chunks are not copied repeatedly. */
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Length of the frame being assembled, or -1 while its header is incomplete. */
  private expected = -1;
  private failed: ProtocolError | undefined;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = checkMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes held for an incomplete frame. Non-zero at end of stream means truncation. [LP-2.5] */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** The framing error that stopped this decoder, if any. Nothing is decoded after it. */
  get failure(): ProtocolError | undefined {
    return this.failed;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    if (chunk.byteLength === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const header = this.take(FRAME_HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0, false);
        const error =
          length === 0
            ? new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame length is 0 [LP-2.4]')
            : length > this.maxFrameBytes
              ? new ProtocolError(
                  ProtocolErrorCode.FRAME_TOO_LARGE,
                  `frame of ${length} bytes exceeds the maximum of ${this.maxFrameBytes} [LP-2.3]`,
                )
              : undefined;
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

  /** Throws when the stream ended inside a frame. Call it when the peer closes. [LP-2.5] */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.buffered > 0 || this.expected >= 0) {
      const missing = this.expected >= 0 ? this.expected - this.buffered : FRAME_HEADER_BYTES - this.buffered;
      const error = new ProtocolError(
        ProtocolErrorCode.FRAME_TRUNCATED,
        `connection closed ${missing} bytes short of a complete frame [LP-2.5]`,
      );
      this.fail(error);
      throw error;
    }
  }

  /** Drops everything buffered: after a framing error the stream cannot be resynchronised. */
  private fail(error: ProtocolError): void {
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
