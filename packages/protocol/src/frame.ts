/**
 * Stream framing [LP-2]: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
 * The decoder is incremental: feed it chunks of any size, one byte at a time included.
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { LengthPrefixDecoder, lengthPrefixed } from './length-prefix.js';
import { ABSOLUTE_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES } from './messages.js';

/** Prefixes `payload` with its 4-byte big-endian length. [LP-2.1] */
export function frame(payload: Uint8Array): Uint8Array {
  return lengthPrefixed(payload, false);
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
 * (The buffering is the shared {@link LengthPrefixDecoder}, big-endian.)
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  private readonly decoder: LengthPrefixDecoder;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = checkMaxFrameBytes(maxFrameBytes);
    const max = this.maxFrameBytes;
    this.decoder = new LengthPrefixDecoder({
      littleEndian: false,
      checkLength: (length) =>
        length === 0
          ? new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame length is 0 [LP-2.4]')
          : length > max
            ? new ProtocolError(
                ProtocolErrorCode.FRAME_TOO_LARGE,
                `frame of ${length} bytes exceeds the maximum of ${max} [LP-2.3]`,
              )
            : undefined,
      truncated: (missing) =>
        new ProtocolError(
          ProtocolErrorCode.FRAME_TRUNCATED,
          `connection closed ${missing} bytes short of a complete frame [LP-2.5]`,
        ),
    });
  }

  /** Bytes held for an incomplete frame. Non-zero at end of stream means truncation. [LP-2.5] */
  get pendingBytes(): number {
    return this.decoder.pendingBytes;
  }

  /** The framing error that stopped this decoder, if any. Nothing is decoded after it. */
  get failure(): ProtocolError | undefined {
    // The rules above make only ProtocolErrors.
    return this.decoder.failure as ProtocolError | undefined;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    return this.decoder.push(chunk);
  }

  /** Throws when the stream ended inside a frame. Call it when the peer closes. [LP-2.5] */
  end(): void {
    this.decoder.end();
  }
}
