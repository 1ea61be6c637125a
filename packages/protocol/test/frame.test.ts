/**
 * The stream frame decoder [LP-2]: chunking, limits checked from the header alone, zero-length frames,
 * truncation at end of stream, and pendingBytes. Random chunkings of the committed vectors live in
 * fuzz.test.ts; byte-by-byte feeding of every vector in vectors.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ABSOLUTE_MAX_FRAME_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  ProtocolError,
  ProtocolErrorCode,
  checkMaxFrameBytes,
  frame,
} from '../src/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);
const header = (length: number): Uint8Array => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length);
  return h;
};

function assertCode(fn: () => unknown, code: string): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ProtocolError, `expected ProtocolError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

describe('frame() [LP-2.1]', () => {
  it('prefixes the payload with its length as 4 bytes big-endian', () => {
    const payload = bytes('{"type":"ack","through":1}');
    const framed = frame(payload);
    assert.equal(Buffer.from(framed.subarray(0, 4)).toString('hex'), '0000001a');
    assert.deepEqual(framed.subarray(4), payload);
    assert.equal(Buffer.from(frame(new Uint8Array(300)).subarray(0, 4)).toString('hex'), '0000012c');
  });

  it('works on a payload that is a view into a larger buffer', () => {
    const backing = bytes('xx{"a":1}yy');
    assert.equal(text(frame(backing.subarray(2, 9)).subarray(4)), '{"a":1}');
  });
});

describe('FrameDecoder', () => {
  it('returns every frame of a chunk holding several', () => {
    const decoder = new FrameDecoder();
    const chunk = Buffer.concat([frame(bytes('{"a":1}')), frame(bytes('{"b":2}')), frame(bytes('{}'))]);
    assert.deepEqual(decoder.push(chunk).map(text), ['{"a":1}', '{"b":2}', '{}']);
    assert.equal(decoder.pendingBytes, 0);
    decoder.end();
  });

  it('assembles frames split anywhere: in the header, in the body, across three chunks', () => {
    const wire = Buffer.concat([frame(bytes('{"first":"Grüße"}')), frame(bytes('{"second":2}'))]);
    for (let a = 0; a <= wire.length; a += 1) {
      for (const b of [a, Math.min(wire.length, a + 3), wire.length]) {
        const decoder = new FrameDecoder();
        const out = [
          ...decoder.push(wire.subarray(0, a)),
          ...decoder.push(wire.subarray(a, b)),
          ...decoder.push(wire.subarray(b)),
        ];
        assert.deepEqual(out.map(text), ['{"first":"Grüße"}', '{"second":2}'], `cut at ${a}/${b}`);
        decoder.end();
      }
    }
  });

  it('counts pendingBytes while a frame is incomplete', () => {
    const decoder = new FrameDecoder();
    const wire = frame(bytes('{"x":12345}'));
    assert.equal(decoder.pendingBytes, 0);
    assert.deepEqual(decoder.push(wire.subarray(0, 3)), []);
    assert.equal(decoder.pendingBytes, 3);
    assert.deepEqual(decoder.push(wire.subarray(3, 6)), []);
    assert.equal(decoder.pendingBytes, 2, 'the header is consumed once complete; two body bytes wait');
    assert.equal(decoder.push(wire.subarray(6)).length, 1);
    assert.equal(decoder.pendingBytes, 0);
  });

  it('ignores empty chunks', () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(new Uint8Array(0)), []);
    decoder.end();
  });

  it('accepts a frame of exactly maxFrameBytes and rejects one byte more, from the header alone [LP-2.3]', () => {
    const decoder = new FrameDecoder(256);
    const body = new Uint8Array(256).fill(0x20);
    assert.equal(decoder.push(frame(body))[0]?.byteLength, 256);
    const error = assertCode(() => decoder.push(header(257)), ProtocolErrorCode.FRAME_TOO_LARGE);
    assert.match(error.message, /257.*256/);
    assert.equal(decoder.pendingBytes, 0, 'nothing is kept after the bad header');
  });

  it('rejects a 4 GiB header on its fourth byte, without waiting for a body', () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(Uint8Array.of(0xff, 0xff, 0xff)), []);
    assertCode(() => decoder.push(Uint8Array.of(0xff)), ProtocolErrorCode.FRAME_TOO_LARGE);
  });

  it('uses the 64 KiB default limit [LP-2.3]', () => {
    assert.equal(new FrameDecoder().maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    assert.equal(new FrameDecoder().push(header(65536)).length, 0);
    assertCode(() => new FrameDecoder().push(header(65537)), ProtocolErrorCode.FRAME_TOO_LARGE);
  });

  it('rejects a zero-length frame as malformed [LP-2.4]', () => {
    assertCode(() => new FrameDecoder().push(header(0)), ProtocolErrorCode.FRAME_MALFORMED);
  });

  it('returns the good frames ahead of a bad header in one chunk, then stays failed [LP-2.4]', () => {
    const decoder = new FrameDecoder();
    const chunk = Buffer.concat([frame(bytes('{"a":1}')), header(0), frame(bytes('{"b":2}'))]);
    assert.deepEqual(decoder.push(chunk).map(text), ['{"a":1}']);
    assert.equal(decoder.failure?.code, ProtocolErrorCode.FRAME_MALFORMED);
    const again = assertCode(() => decoder.push(frame(bytes('{"c":3}'))), ProtocolErrorCode.FRAME_MALFORMED);
    assert.equal(again, decoder.failure, 'the same error every time');
    assertCode(() => decoder.end(), ProtocolErrorCode.FRAME_MALFORMED);
    assert.equal(decoder.pendingBytes, 0);
  });

  it('throws at once when the bad header is the first thing in the chunk', () => {
    const decoder = new FrameDecoder(256);
    assertCode(() => decoder.push(Buffer.concat([header(300), new Uint8Array(300)])), 'LP_FRAME_TOO_LARGE');
    assert.equal(decoder.failure?.code, ProtocolErrorCode.FRAME_TOO_LARGE);
  });

  it('reports truncation when the stream ends inside a header or a body [LP-2.5]', () => {
    const inHeader = new FrameDecoder();
    inHeader.push(Uint8Array.of(0, 0));
    assert.match(
      assertCode(() => inHeader.end(), ProtocolErrorCode.FRAME_TRUNCATED).message,
      /2 bytes short/,
    );

    const inBody = new FrameDecoder();
    inBody.push(frame(bytes('{"a":"bcdef"}')).subarray(0, 10));
    assert.match(assertCode(() => inBody.end(), ProtocolErrorCode.FRAME_TRUNCATED).message, /7 bytes short/);
    assert.equal(inBody.pendingBytes, 0);

    const afterHeader = new FrameDecoder();
    afterHeader.push(header(5));
    assertCode(() => afterHeader.end(), ProtocolErrorCode.FRAME_TRUNCATED);
  });

  it('ends cleanly on a frame boundary', () => {
    const decoder = new FrameDecoder();
    decoder.push(frame(bytes('{}')));
    assert.doesNotThrow(() => decoder.end());
  });

  it('joins a payload that spans chunks into one contiguous buffer', () => {
    const decoder = new FrameDecoder();
    const wire = Buffer.from(frame(bytes('{"a":1}')));
    const first = decoder.push(wire.subarray(0, 6));
    const out = decoder.push(wire.subarray(6));
    assert.equal(first.length, 0);
    assert.equal(out.length, 1);
    assert.equal(text(out[0] ?? new Uint8Array()), '{"a":1}');
  });
});

describe('checkMaxFrameBytes', () => {
  it('accepts 256 B … 16 MiB integers and rejects the rest at construction time', () => {
    assert.equal(checkMaxFrameBytes(256), 256);
    assert.equal(checkMaxFrameBytes(ABSOLUTE_MAX_FRAME_BYTES), ABSOLUTE_MAX_FRAME_BYTES);
    for (const bad of [255, ABSOLUTE_MAX_FRAME_BYTES + 1, 1024.5, Number.NaN, -1]) {
      assert.throws(() => checkMaxFrameBytes(bad), RangeError, String(bad));
      assert.throws(() => new FrameDecoder(bad), RangeError, String(bad));
    }
  });
});
