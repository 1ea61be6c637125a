/**
 * Property tests with fast-check: (a) any valid message survives encode → frame → arbitrary chunking →
 * decode; (b) arbitrary input never makes the decoders throw anything but ProtocolError; (c) ManualClock
 * fires timers in due order. Failures print a seed; rerun with it to reproduce.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FrameDecoder,
  GOAWAY_REASONS,
  LIMITS,
  ManualClock,
  NOTICE_CODES,
  PUSH_KINDS,
  PUSH_PRIORITIES,
  ProtocolError,
  ProtocolErrorCode,
  decodeClientMessage,
  decodeMessage,
  decodeServerMessage,
  encodeMessage,
  frame,
  type JsonValue,
  type Message,
  type TimerHandle,
} from '../src/index.js';
import { VECTORS_DIR, type FrameCase } from './generate-vectors.js';

const uint = fc.maxSafeNat();
/** Strings whose UTF-16 length stays within `max` even when every unit is an astral character. */
const text = (max: number, minLength = 0) =>
  fc.string({ unit: 'binary', minLength, maxLength: Math.floor(max / 2) });
const deviceId = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,128}$/);
const messageId = fc.stringMatching(/^[\x21-\x7e]{1,128}$/);
const capabilities = fc.array(text(LIMITS.capabilityMaxLength, 1), { maxLength: LIMITS.capabilityMaxCount });
const errorCode = fc.constantFrom(...Object.values(ProtocolErrorCode));

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      version: uint,
      deviceId,
      credential: text(LIMITS.credentialMaxLength, 1),
      resume: fc.record({ lastSeq: uint }),
      capabilities,
      agent: text(LIMITS.textMaxLength),
    },
    { requiredKeys: ['type', 'version', 'deviceId', 'credential', 'capabilities'] },
  ),
  fc.record({
    type: fc.constant('welcome' as const),
    version: uint,
    sessionId: text(LIMITS.messageIdMaxLength, 1),
    heartbeatIntervalMs: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    heartbeatGraceMs: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    serverTime: uint,
    maxFrameBytes: fc.integer({ min: 256, max: Number.MAX_SAFE_INTEGER }),
    capabilities,
  }),
  fc.record({ type: fc.constant('heartbeat' as const), seq: uint, serverTime: uint }),
  fc.record({ type: fc.constant('heartbeat_ack' as const), seq: uint }),
  fc.record(
    {
      type: fc.constant('push' as const),
      id: messageId,
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      kind: fc.constantFrom(...PUSH_KINDS),
      payload: fc.jsonValue({ maxDepth: 4 }).map((v) => v as JsonValue),
      priority: fc.constantFrom(...PUSH_PRIORITIES),
      expiration: uint,
      collapseId: text(LIMITS.collapseIdMaxLength),
    },
    { requiredKeys: ['type', 'id', 'seq', 'kind', 'payload', 'priority', 'expiration'] },
  ),
  fc.oneof(
    fc.record({ type: fc.constant('ack' as const), ids: fc.array(messageId, { maxLength: 20 }) }),
    fc.record({ type: fc.constant('ack' as const), through: uint }),
    fc.record({
      type: fc.constant('ack' as const),
      ids: fc.array(messageId, { maxLength: 20 }),
      through: uint,
    }),
  ),
  fc.record({ type: fc.constant('error' as const), code: errorCode, message: text(LIMITS.textMaxLength) }),
  fc
    .record(
      {
        type: fc.constant('goaway' as const),
        reason: fc.constantFrom(...GOAWAY_REASONS),
        message: text(LIMITS.textMaxLength),
        redirect: fc.webUrl().map((u) => u.slice(0, LIMITS.textMaxLength)),
        reconnectAfterMs: uint,
      },
      { requiredKeys: ['type', 'reason'] },
    )
    .filter((g) => g.reason !== 'redirect' || g.redirect !== undefined),
  fc.record({
    type: fc.constant('notice' as const),
    code: fc.constantFrom(...NOTICE_CODES),
    count: uint,
    message: text(LIMITS.textMaxLength),
  }),
);

/** What a receiver holds: JSON has no -0, so the payload's -0 comes back as 0. */
const afterJson = (m: Message): unknown => JSON.parse(JSON.stringify(m));

/** Splits `bytes` at the given cut points (any values; they are reduced into range). */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

/** Runs `fn` and fails the property if it throws anything but a ProtocolError. */
function onlyProtocolErrors(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    assert.ok(Object.values(ProtocolErrorCode).includes(error.code));
  }
}

describe('fuzz: valid messages round-trip through any chunking', () => {
  it('encode → frame → split at random points → decode gives the input back', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (ms, cuts) => {
          const wire = Buffer.concat(ms.map((m) => frame(encodeMessage(m))));
          const decoder = new FrameDecoder();
          const out = chunked(wire, cuts).flatMap((c) => decoder.push(c).map(decodeMessage));
          decoder.end();
          assert.deepEqual(out, ms.map(afterJson));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every committed frame vector decodes the same under random chunking', () => {
    const cases = (JSON.parse(readFileSync(VECTORS_DIR + 'frames.json', 'utf8')) as { cases: FrameCase[] })
      .cases;
    const valid = cases.filter((c) => c.error === undefined && c.maxFrameBytes === undefined);
    const wire = Buffer.concat(valid.map((c) => Buffer.from(c.hex, 'hex')));
    const expected = valid.flatMap((c) => c.messages ?? [c.message]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 64 }), (cuts) => {
        const decoder = new FrameDecoder();
        const out = chunked(wire, cuts).flatMap((c) => decoder.push(c).map(decodeMessage));
        decoder.end();
        assert.deepEqual(out, expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('fuzz: hostile input only ever raises ProtocolError', () => {
  it('arbitrary byte streams through FrameDecoder.push/end and both decoders', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
        fc.integer({ min: 256, max: 4096 }),
        (chunks, max) => {
          const decoder = new FrameDecoder(max);
          onlyProtocolErrors(() => {
            for (const chunk of chunks) {
              for (const payload of decoder.push(chunk)) {
                onlyProtocolErrors(() => decodeClientMessage(payload));
                onlyProtocolErrors(() => decodeServerMessage(payload));
              }
            }
            decoder.end();
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('arbitrary bytes and text as payloads', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)),
        ),
        (payload) => {
          onlyProtocolErrors(() => decodeClientMessage(payload));
          onlyProtocolErrors(() => decodeServerMessage(payload));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('JSON objects with a known type and arbitrary field values', () => {
    const type = fc.constantFrom(
      'hello',
      'welcome',
      'heartbeat',
      'heartbeat_ack',
      'push',
      'ack',
      'error',
      'goaway',
      'notice',
    );
    const fields = fc.dictionary(
      fc.constantFrom(
        'version',
        'deviceId',
        'credential',
        'resume',
        'capabilities',
        'agent',
        'seq',
        'serverTime',
        'id',
        'kind',
        'payload',
        'priority',
        'expiration',
        'collapseId',
        'ids',
        'through',
        'code',
        'message',
        'reason',
        'redirect',
        'reconnectAfterMs',
        'count',
        'sessionId',
        'heartbeatIntervalMs',
        'heartbeatGraceMs',
        'maxFrameBytes',
        '__proto__',
        'constructor',
      ),
      fc.jsonValue({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(type, fields, (t, f) => {
        const payload = Buffer.from(JSON.stringify({ ...f, type: t }));
        onlyProtocolErrors(() => decodeClientMessage(payload));
        onlyProtocolErrors(() => decodeServerMessage(payload));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutations of valid frames (flipped, dropped and inserted bytes)', () => {
    fc.assert(
      fc.property(
        message,
        fc.array(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'drop', 'insert')),
          { minLength: 1, maxLength: 4 },
        ),
        (m, edits) => {
          const bytes = [...frame(encodeMessage(m))];
          for (const [at, value, op] of edits) {
            const i = at % bytes.length;
            if (op === 'flip') bytes[i] = value;
            else if (op === 'drop') bytes.splice(i, 1);
            else bytes.splice(i, 0, value);
          }
          const decoder = new FrameDecoder();
          onlyProtocolErrors(() => {
            for (const payload of decoder.push(Uint8Array.from(bytes))) {
              onlyProtocolErrors(() => decodeClientMessage(payload));
              onlyProtocolErrors(() => decodeServerMessage(payload));
            }
            decoder.end();
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('fuzz: ManualClock', () => {
  it('fires every due timer once, in due-time then creation order, at its due time; cancelled never', () => {
    const op = fc.oneof(
      fc.record({
        op: fc.constant('set' as const),
        delay: fc.integer({ min: -5, max: 1000 }),
        child: fc.option(fc.integer({ min: 0, max: 300 })),
      }),
      fc.record({ op: fc.constant('clear' as const), index: fc.nat() }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 700 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const clock = new ManualClock(0);
        interface Timer {
          id: number;
          due: number;
          handle: TimerHandle;
          cancelled: boolean;
        }
        const timers: Timer[] = [];
        const fired: { id: number; at: number }[] = [];
        const schedule = (delay: number, child: number | null): void => {
          const id = timers.length;
          const handle = clock.setTimeout(() => {
            fired.push({ id, at: clock.now() });
            // A callback may schedule more timers; those due within the advanced span fire in the same call.
            if (child !== null) schedule(child, null);
          }, delay);
          timers.push({ id, due: clock.now() + Math.max(0, delay), handle, cancelled: false });
        };
        for (const o of ops) {
          if (o.op === 'set') schedule(o.delay, o.child);
          else if (o.op === 'clear') {
            const t = timers[o.index % Math.max(1, timers.length)];
            if (t !== undefined && !fired.some((f) => f.id === t.id)) {
              clock.clearTimeout(t.handle);
              t.cancelled = true;
            }
          } else {
            const target = clock.now() + o.ms;
            const before = fired.length;
            clock.advance(o.ms);
            assert.equal(clock.now(), target);
            const batch = fired.slice(before);
            for (let i = 1; i < batch.length; i += 1) {
              const [p, q] = [batch[i - 1], batch[i]];
              assert.ok(p !== undefined && q !== undefined && p.at <= q.at, 'fired in time order');
              if (p.at === q.at && q.id < p.id) {
                // Same due time: creation order, unless q was created by a callback after p fired.
                assert.fail(`timer ${q.id} fired after ${p.id} at the same time`);
              }
            }
          }
        }
        // Timers due at the current instant fire on the next advance, even a zero one.
        clock.advance(0);
        const seen = new Set<number>();
        for (const f of fired) {
          const t = timers[f.id];
          assert.ok(t !== undefined && !t.cancelled, 'a cancelled timer never fires');
          assert.ok(!seen.has(f.id), 'each timer fires once');
          seen.add(f.id);
          assert.equal(f.at, t.due, 'fires exactly at its due time');
        }
        const due = timers.filter((t) => !t.cancelled && t.due <= clock.now());
        assert.equal(seen.size, due.length, 'every due timer fired');
        assert.equal(clock.pending, timers.filter((t) => !t.cancelled).length - seen.size);
      }),
      { numRuns: 500 },
    );
  });
});
