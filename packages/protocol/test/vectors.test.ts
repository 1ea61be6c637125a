/**
 * Runs the codec over every committed test vector, the same way another implementation (the Swift client)
 * is expected to: feed the bytes, compare the decoded messages or the error code. Also checks that the
 * vectors cover every message type and codec error code, and that the committed files still equal what
 * the generator builds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  MESSAGE_SENDERS,
  ProtocolError,
  ProtocolErrorCode,
  decodeClientMessage,
  decodeMessage,
  decodeServerMessage,
  encodeMessage,
  frame,
  isProtocolErrorCode,
  type Message,
} from '../src/index.js';
import { VECTORS_DIR, vectorFiles, type FrameCase, type InvalidCase } from './generate-vectors.js';

interface VectorFile<T> {
  protocolVersion: number;
  defaultMaxFrameBytes: number;
  cases: T[];
}

const load = <T>(name: string): VectorFile<T> =>
  JSON.parse(readFileSync(VECTORS_DIR + name, 'utf8')) as VectorFile<T>;
const frames = load<FrameCase>('frames.json');
const invalid = load<InvalidCase>('invalid.json');

const decoderFor = (sender: 'client' | 'server') =>
  sender === 'client' ? decodeClientMessage : decodeServerMessage;

/** Feeds `bytes` in chunks of `chunkSize` and returns the messages, or the error that stopped the stream. */
function runStream(
  c: FrameCase,
  chunkSize: number,
): { messages: Message[]; error: ProtocolError | undefined } {
  const bytes = Buffer.from(c.hex, 'hex');
  const decoder = new FrameDecoder(c.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  const decode = decoderFor(c.sender);
  const messages: Message[] = [];
  try {
    for (let at = 0; at < bytes.length; at += chunkSize) {
      for (const payload of decoder.push(bytes.subarray(at, at + chunkSize))) messages.push(decode(payload));
    }
    decoder.end();
  } catch (error) {
    assert.ok(error instanceof ProtocolError, `only ProtocolError may escape, got ${String(error)}`);
    return { messages, error };
  }
  return { messages, error: undefined };
}

const expectedMessages = (c: FrameCase): unknown[] =>
  c.messages ?? (c.message === undefined ? [] : [c.message]);

function expectError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

describe('vectors/frames.json', () => {
  it('is protocol version 1 with the default frame limit', () => {
    assert.equal(frames.protocolVersion, 1);
    assert.equal(frames.defaultMaxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    assert.equal(new Set(frames.cases.map((c) => c.name)).size, frames.cases.length, 'names are unique');
  });

  for (const c of frames.cases) {
    it(c.name, () => {
      assert.ok((c.message === undefined) !== (c.messages === undefined), 'exactly one of message/messages');
      const whole = runStream(c, Number.MAX_SAFE_INTEGER);
      assert.deepEqual(whole.messages, expectedMessages(c));
      assert.equal(whole.error?.code, c.error);
      // Chunking must not change the result: byte by byte is the hardest case. [LP-2.1]
      const byByte = runStream(c, 1);
      assert.deepEqual(byByte.messages, expectedMessages(c));
      assert.equal(byByte.error?.code, c.error);
      // The receiving side accepts it; the direction-free decoder agrees.
      if (c.error === undefined) {
        for (const message of whole.messages) {
          assert.deepEqual(decodeMessage(encodeMessage(message)), message, 're-encoding round-trips');
        }
      }
    });
  }

  it('covers every message type, unicode, several frames per buffer, and every framing error', () => {
    const types = new Set(frames.cases.flatMap((c) => expectedMessages(c).map((m) => (m as Message).type)));
    assert.deepEqual([...types].sort(), Object.keys(MESSAGE_SENDERS).sort());
    assert.ok(frames.cases.some((c) => (c.messages?.length ?? 0) > 1));
    assert.ok(frames.cases.some((c) => /[^\u0020-\u007e]/u.test(JSON.stringify(c.message ?? null))));
    const errors = new Set(frames.cases.map((c) => c.error).filter((e) => e !== undefined));
    assert.deepEqual([...errors].sort(), ['LP_FRAME_MALFORMED', 'LP_FRAME_TOO_LARGE', 'LP_FRAME_TRUNCATED']);
  });
});

describe('vectors/invalid.json', () => {
  it('is protocol version 1 and every case names one input and a known code', () => {
    assert.equal(invalid.protocolVersion, 1);
    assert.equal(new Set(invalid.cases.map((c) => c.name)).size, invalid.cases.length, 'names are unique');
    for (const c of invalid.cases) {
      const inputs = [c.text, c.hex, c.frameHex].filter((v) => v !== undefined);
      assert.equal(inputs.length, 1, `${c.name}: exactly one of text/hex/frameHex`);
      assert.ok(isProtocolErrorCode(c.error), `${c.name}: ${c.error}`);
    }
  });

  for (const c of invalid.cases) {
    it(`${c.name} → ${c.error}`, () => {
      if (c.frameHex !== undefined) {
        const decoder = new FrameDecoder(c.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
        expectError(() => {
          assert.deepEqual(decoder.push(Buffer.from(c.frameHex ?? '', 'hex')), []);
          decoder.end();
        }, c.error);
        return;
      }
      const payload = c.text !== undefined ? Buffer.from(c.text, 'utf8') : Buffer.from(c.hex ?? '', 'hex');
      if (c.receiver !== undefined) {
        // A wrong-direction message is valid in itself; only the named receiver refuses it. [LP-3.4]
        expectError(() => decoderFor(c.receiver === 'server' ? 'client' : 'server')(payload), c.error);
        const other = c.receiver === 'server' ? decodeServerMessage : decodeClientMessage;
        assert.doesNotThrow(() => other(payload));
        assert.doesNotThrow(() => decodeMessage(payload));
        return;
      }
      // Validation comes before the direction check, so every decoder gives the same code.
      for (const decode of [decodeMessage, decodeClientMessage, decodeServerMessage]) {
        expectError(() => decode(payload), c.error);
      }
      // And the same payload arriving framed on a stream gives the same code.
      if (payload.byteLength > 0) {
        const [only] = new FrameDecoder().push(frame(payload));
        assert.ok(only !== undefined);
        expectError(() => decodeMessage(only), c.error);
      }
    });
  }

  it('covers every framing and message error code', () => {
    const codes = new Set(invalid.cases.map((c) => c.error));
    for (const code of [
      ProtocolErrorCode.FRAME_MALFORMED,
      ProtocolErrorCode.FRAME_TOO_LARGE,
      ProtocolErrorCode.FRAME_TRUNCATED,
      ProtocolErrorCode.MESSAGE_UNKNOWN,
      ProtocolErrorCode.MESSAGE_INVALID,
      ProtocolErrorCode.MESSAGE_UNEXPECTED,
    ]) {
      assert.ok(codes.has(code), code);
    }
    const wrongWay = invalid.cases.filter((c) => c.receiver !== undefined);
    for (const [type, sender] of Object.entries(MESSAGE_SENDERS)) {
      if (sender === 'both') continue;
      assert.ok(
        wrongWay.some((c) => (JSON.parse(c.text ?? '{}') as { type?: string }).type === type),
        `a wrong-direction case for ${type}`,
      );
    }
  });
});

describe('committed vectors', () => {
  it('equal what test/generate-vectors.ts builds (regenerate after changing it)', () => {
    const built = vectorFiles();
    assert.deepEqual(frames, JSON.parse(JSON.stringify(built['frames.json'])));
    assert.deepEqual(invalid, JSON.parse(JSON.stringify(built['invalid.json'])));
  });
});
