/**
 * The SimplePush codec: little-endian framing fed byte by byte and in random chunks, envelopes as
 * Swift's JSONEncoder writes them, and every kind of malformed input with its stable error code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  SP_CODING_KEY,
  SimplePushError,
  SimplePushErrorCode,
  SpFrameDecoder,
  decodeSpEnvelope,
  encodeSpAcknowledge,
  encodeSpFrame,
  encodeSpRequest,
  type SpMessage,
  type SpUser,
} from '../../src/simplepush/codec.js';

const ALICE: SpUser = { uuid: '1B4E28BA-2FA1-11D2-883F-0016D3CCA427', deviceName: 'Alice’s iPhone' };
const BOB: SpUser = { uuid: 'E621E1F8-C36C-495A-93FC-0C247A3E6E5F', deviceName: 'Bob' };

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value));
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');
const request = (codingKey: number, data: string, id = 7): Uint8Array =>
  json({ command: 'request', requestIdentifier: id, payload: { codingKey, data } });

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof SimplePushError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('framing', () => {
  it('prefixes a 4-byte little-endian length', () => {
    const framed = encodeSpFrame(utf8('{}'));
    assert.deepEqual([...framed], [2, 0, 0, 0, 0x7b, 0x7d]);
  });

  it('reassembles frames fed one byte at a time', () => {
    const payloads = [utf8('{"a":1}'), utf8('[]'), new Uint8Array(300).fill(0x20)];
    const stream = Buffer.concat(payloads.map(encodeSpFrame));
    const decoder = new SpFrameDecoder();
    const out: Uint8Array[] = [];
    for (const byte of stream) out.push(...decoder.push(Uint8Array.of(byte)));
    assert.deepEqual(
      out.map((p) => Buffer.from(p).toString()),
      payloads.map((p) => Buffer.from(p).toString()),
    );
    assert.equal(decoder.pendingBytes, 0);
    decoder.end();
  });

  it('splits arbitrary chunkings of any frames identically (fuzzed)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map(encodeSpFrame));
          const decoder = new SpFrameDecoder(1024);
          const out: Uint8Array[] = [];
          let at = 0;
          let i = 0;
          while (at < stream.length) {
            const size = cuts[i++ % cuts.length] ?? 1;
            out.push(...decoder.push(stream.subarray(at, at + size)));
            at += size;
          }
          assert.deepEqual(
            out.map((p) => Buffer.from(p).toString('hex')),
            payloads.map((p) => Buffer.from(p).toString('hex')),
          );
          decoder.end();
        },
      ),
    );
  });

  it('rejects an oversize header before its body arrives', () => {
    const decoder = new SpFrameDecoder(1000);
    assert.equal(
      codeOf(() => decoder.push(Uint8Array.of(0xe9, 0x03, 0, 0))),
      SimplePushErrorCode.FRAME_TOO_LARGE,
    );
    const ok = new SpFrameDecoder(1000);
    assert.equal(ok.push(Uint8Array.of(0xe8, 0x03, 0, 0)).length, 0);
  });

  it('reads the length as little-endian, not network order', () => {
    // 00 00 00 01 is 16 MiB little-endian: over the limit, where big-endian would read 1.
    assert.equal(
      codeOf(() => new SpFrameDecoder(1024).push(Uint8Array.of(0, 0, 0, 1, 0x20))),
      SimplePushErrorCode.FRAME_TOO_LARGE,
    );
  });

  it('reports a stream that ends inside a frame', () => {
    const decoder = new SpFrameDecoder();
    decoder.push(Uint8Array.of(5, 0, 0, 0, 0x7b));
    assert.equal(
      codeOf(() => decoder.end()),
      SimplePushErrorCode.FRAME_TRUNCATED,
    );
  });
});

describe('envelopes', () => {
  const messages: SpMessage[] = [
    { type: 'invite', routing: { sender: ALICE, receiver: BOB } },
    { type: 'user', user: ALICE },
    { type: 'callAction', action: 'connect', receiver: BOB },
    { type: 'callAction', action: 'hangup' },
    { type: 'textMessage', routing: { sender: BOB, receiver: ALICE }, message: 'héllo / "quoted" 👋' },
    { type: 'heartbeat', count: 42 },
    { type: 'directory', users: [ALICE, BOB] },
  ];

  for (const message of messages) {
    it(`round-trips ${message.type} with its codingKey`, () => {
      const bytes = encodeSpRequest(0xffff_ffff, message);
      const raw = JSON.parse(Buffer.from(bytes).toString()) as { payload: { codingKey: number } };
      assert.equal(raw.payload.codingKey, SP_CODING_KEY[message.type]);
      assert.deepEqual(decodeSpEnvelope(bytes), {
        command: 'request',
        requestIdentifier: 0xffff_ffff,
        message,
      });
    });
  }

  it('round-trips an acknowledgement', () => {
    assert.deepEqual(decodeSpEnvelope(encodeSpAcknowledge(12345)), {
      command: 'acknowledge',
      requestIdentifier: 12345,
    });
  });

  it('reads what Swift JSONEncoder writes: escaped slashes, base64 Data, upper-case UUIDs, any key order', () => {
    // JSONEncoder's default output escapes "/" as "\/"; base64 itself contains "/", so it comes escaped.
    const inner =
      '{"message":"a\\/b","routing":{"receiver":{"deviceName":"Bob","uuid":"' +
      BOB.uuid +
      '"},' +
      '"sender":{"uuid":"' +
      ALICE.uuid +
      '","deviceName":"Alice"}}}';
    const data = Buffer.from(inner).toString('base64').replace(/\//g, '\\/');
    const envelope = `{"payload":{"data":"${data}","codingKey":3},"requestIdentifier":3141592653,"command":"request"}`;
    const decoded = decodeSpEnvelope(utf8(envelope));
    assert.deepEqual(decoded, {
      command: 'request',
      requestIdentifier: 3141592653,
      message: {
        type: 'textMessage',
        routing: { sender: { ...ALICE, deviceName: 'Alice' }, receiver: BOB },
        message: 'a/b',
      },
    });
  });

  it('writes UUIDs upper-case and omits an absent receiver (as encodeIfPresent does)', () => {
    const bytes = encodeSpRequest(1, { type: 'callAction', action: 'hangup' });
    const env = JSON.parse(Buffer.from(bytes).toString()) as { payload: { data: string } };
    assert.deepEqual(JSON.parse(Buffer.from(env.payload.data, 'base64').toString()), { action: 'hangup' });
    const user = encodeSpRequest(1, {
      type: 'user',
      user: { uuid: ALICE.uuid.toLowerCase(), deviceName: 'A' },
    });
    const u = JSON.parse(Buffer.from(user).toString()) as { payload: { data: string } };
    assert.equal((JSON.parse(Buffer.from(u.payload.data, 'base64').toString()) as SpUser).uuid, ALICE.uuid);
  });

  it('normalizes lower-case UUIDs to upper case and accepts a null receiver', () => {
    const env = decodeSpEnvelope(request(1, b64({ uuid: BOB.uuid.toLowerCase(), deviceName: 'Bob' })));
    assert.deepEqual(env, { command: 'request', requestIdentifier: 7, message: { type: 'user', user: BOB } });
    const call = decodeSpEnvelope(request(2, b64({ action: 'unavailable', receiver: null })));
    assert.deepEqual(call, {
      command: 'request',
      requestIdentifier: 7,
      message: { type: 'callAction', action: 'unavailable' },
    });
  });
});

describe('bad input has stable codes', () => {
  const user = b64(ALICE);
  const cases: [string, Uint8Array, SimplePushErrorCode][] = [
    ['an empty frame', new Uint8Array(0), SimplePushErrorCode.BAD_JSON],
    ['not JSON', utf8('{"command":'), SimplePushErrorCode.BAD_JSON],
    ['invalid UTF-8', Uint8Array.of(0x7b, 0xff, 0x7d), SimplePushErrorCode.BAD_JSON],
    ['a JSON array', json([]), SimplePushErrorCode.BAD_ENVELOPE],
    ['an unknown command', json({ command: 'push', requestIdentifier: 1 }), SimplePushErrorCode.BAD_ENVELOPE],
    [
      'a negative requestIdentifier',
      json({ command: 'acknowledge', requestIdentifier: -1 }),
      SimplePushErrorCode.BAD_ENVELOPE,
    ],
    [
      'a requestIdentifier over uint32',
      json({ command: 'acknowledge', requestIdentifier: 2 ** 32 }),
      SimplePushErrorCode.BAD_ENVELOPE,
    ],
    [
      'a string requestIdentifier',
      json({ command: 'acknowledge', requestIdentifier: '1' }),
      SimplePushErrorCode.BAD_ENVELOPE,
    ],
    [
      'a request without payload',
      json({ command: 'request', requestIdentifier: 1 }),
      SimplePushErrorCode.BAD_ENVELOPE,
    ],
    ['codingKey 6', request(6, user), SimplePushErrorCode.UNKNOWN_CODING_KEY],
    ['codingKey -1', request(-1, user), SimplePushErrorCode.UNKNOWN_CODING_KEY],
    ['codingKey 1.5', request(1.5, user), SimplePushErrorCode.BAD_ENVELOPE],
    [
      'data not a string',
      json({ command: 'request', requestIdentifier: 1, payload: { codingKey: 1, data: 5 } }),
      SimplePushErrorCode.BAD_ENVELOPE,
    ],
    ['base64 with junk', request(1, '!!' + user), SimplePushErrorCode.BAD_BASE64],
    [
      'base64 without padding',
      request(1, Buffer.from('{}a').toString('base64') + 'Q'),
      SimplePushErrorCode.BAD_BASE64,
    ],
    ['base64url alphabet', request(1, 'ab-_'), SimplePushErrorCode.BAD_BASE64],
    ['base64 of not-JSON', request(1, Buffer.from('hello').toString('base64')), SimplePushErrorCode.BAD_JSON],
    ['a user without uuid', request(1, b64({ deviceName: 'x' })), SimplePushErrorCode.BAD_MESSAGE],
    [
      'a user with a bad uuid',
      request(1, b64({ uuid: 'not-a-uuid', deviceName: 'x' })),
      SimplePushErrorCode.BAD_MESSAGE,
    ],
    ['a user without deviceName', request(1, b64({ uuid: ALICE.uuid })), SimplePushErrorCode.BAD_MESSAGE],
    ['an unknown call action', request(2, b64({ action: 'ring' })), SimplePushErrorCode.BAD_MESSAGE],
    ['a text without routing', request(3, b64({ message: 'hi' })), SimplePushErrorCode.BAD_MESSAGE],
    [
      'a text without message',
      request(3, b64({ routing: { sender: ALICE, receiver: BOB } })),
      SimplePushErrorCode.BAD_MESSAGE,
    ],
    ['a fractional heartbeat count', request(4, b64({ count: 1.5 })), SimplePushErrorCode.BAD_MESSAGE],
    ['a directory of non-users', request(5, b64({ users: [1] })), SimplePushErrorCode.BAD_MESSAGE],
    [
      'an invite with a bad receiver',
      request(0, b64({ routing: { sender: ALICE, receiver: {} } })),
      SimplePushErrorCode.BAD_MESSAGE,
    ],
  ];
  for (const [name, bytes, code] of cases) {
    it(`${name} → ${code}`, () =>
      assert.equal(
        codeOf(() => decodeSpEnvelope(bytes)),
        code,
      ));
  }

  it('never throws anything but a SimplePushError on arbitrary bytes or JSON (fuzzed)', () => {
    const check = (bytes: Uint8Array): void => {
      try {
        decodeSpEnvelope(bytes);
      } catch (error) {
        assert.ok(error instanceof SimplePushError, String(error));
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), check), { numRuns: 500 });
    const anyPayload = fc.record({
      codingKey: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.string(), fc.constant(null)),
      data: fc.oneof(
        fc.base64String(),
        fc.jsonValue().map((v) => b64(v)),
        fc.string(),
      ),
    });
    fc.assert(
      fc.property(
        fc.record(
          {
            command: fc.constantFrom('request', 'acknowledge', 'other'),
            requestIdentifier: fc.oneof(fc.nat(), fc.integer(), fc.double()),
            payload: fc.oneof(anyPayload, fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
        (envelope) => check(json(envelope)),
      ),
      { numRuns: 1000 },
    );
  });

  it('decodes every valid request it encodes (fuzzed)', () => {
    // fast-check's records have a null prototype; plain objects compare with what the decoder returns.
    const user = fc
      .tuple(fc.uuid(), fc.string())
      .map(([uuid, deviceName]): SpUser => ({ uuid: uuid.toUpperCase(), deviceName }));
    const routing = fc.tuple(user, user).map(([sender, receiver]) => ({ sender, receiver }));
    const message: fc.Arbitrary<SpMessage> = fc.oneof(
      routing.map((r) => ({ type: 'invite' as const, routing: r })),
      user.map((u) => ({ type: 'user' as const, user: u })),
      fc
        .tuple(fc.constantFrom('connect' as const, 'hangup' as const, 'unavailable' as const), user)
        .map(([action, receiver]) => ({ type: 'callAction' as const, action, receiver })),
      fc
        .tuple(routing, fc.string())
        .map(([r, m]) => ({ type: 'textMessage' as const, routing: r, message: m })),
      fc.integer().map((count) => ({ type: 'heartbeat' as const, count })),
      fc.array(user, { maxLength: 5 }).map((users) => ({ type: 'directory' as const, users })),
    );
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), message, (id, m) => {
        assert.deepEqual(decodeSpEnvelope(encodeSpRequest(id, m)), {
          command: 'request',
          requestIdentifier: id,
          message: m,
        });
      }),
    );
  });
});
