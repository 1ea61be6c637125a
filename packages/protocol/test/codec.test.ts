/**
 * Messages ⇄ payloads [LP-3]: round trips of every type, each validation failure with its code and a
 * text naming the field, unknown fields dropped, and the direction check. The exhaustive list of bad
 * inputs is vectors/invalid.json (run by vectors.test.ts); this file covers behaviour around it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MESSAGE_SENDERS,
  ProtocolError,
  ProtocolErrorCode,
  decodeClientMessage,
  decodeMessage,
  decodeServerMessage,
  encodeMessage,
  validateMessage,
  type ClientMessage,
  type Message,
  type MessageType,
  type ServerMessage,
} from '../src/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function rejects(payload: string | Uint8Array, code: string, decode = decodeMessage): ProtocolError {
  const input = typeof payload === 'string' ? bytes(payload) : payload;
  let caught: unknown;
  try {
    decode(input);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ProtocolError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

/** One full example of every message type, optional fields set. */
const examples: Record<MessageType, Message> = {
  hello: {
    type: 'hello',
    version: 1,
    deviceId: 'ward-7:ipad@site',
    credential: 'c',
    resume: { lastSeq: 0 },
    capabilities: ['x'],
    agent: 'test',
    network: { ssid: 'ward', bssid: 'aa:bb:cc:dd:ee:ff', signalDbm: -60 },
  },
  welcome: {
    type: 'welcome',
    version: 1,
    sessionId: 's-1',
    heartbeatIntervalMs: 20_000,
    heartbeatGraceMs: 10_000,
    serverTime: 1_700_000_000_000,
    maxFrameBytes: 65_536,
    capabilities: [],
  },
  heartbeat: { type: 'heartbeat', seq: 1, serverTime: 1_700_000_000_000 },
  heartbeat_ack: { type: 'heartbeat_ack', seq: 1 },
  push: {
    type: 'push',
    id: 'm-1',
    seq: 1,
    kind: 'call',
    payload: { nested: [1, 'two', null, { deep: true }] },
    priority: 5,
    expiration: 0,
    collapseId: 'c',
  },
  ack: { type: 'ack', ids: ['m-1'], through: 1 },
  apns_token: {
    type: 'apns_token',
    token: '0a1B2c3D',
    topic: 'com.example.app.voip',
    environment: 'production',
  },
  error: { type: 'error', code: 'LP_SLOW_CONSUMER', message: 'too slow' },
  goaway: { type: 'goaway', reason: 'redirect', message: 'm', redirect: 'tls://h:1', reconnectAfterMs: 5 },
  notice: { type: 'notice', code: 'queue_overflow', count: 2, message: 'dropped 2' },
  probe: { type: 'probe', id: 'p-1', pad: '....' },
  probe_reply: { type: 'probe_reply', id: 'p-1', serverTime: 1_700_000_000_000, pad: '....' },
};

describe('encode/decode round trips', () => {
  for (const [type, message] of Object.entries(examples)) {
    it(type, () => {
      const payload = encodeMessage(message);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), message, 'the payload is plain JSON');
      assert.deepEqual(decodeMessage(payload), message);
      const sender = MESSAGE_SENDERS[message.type];
      if (sender !== 'server') assert.deepEqual(decodeClientMessage(payload), message as ClientMessage);
      if (sender !== 'client') assert.deepEqual(decodeServerMessage(payload), message as ServerMessage);
    });
  }

  it('returns a copy that does not share the parsed object', () => {
    const input = { type: 'heartbeat_ack', seq: 4, extra: 1 };
    const out = validateMessage(input);
    assert.notEqual(out, input);
    assert.deepEqual(out, { type: 'heartbeat_ack', seq: 4 });
  });
});

describe('forward compatibility [LP-3.5]', () => {
  it('drops unknown fields at the top level and inside resume', () => {
    const decoded = decodeClientMessage(
      bytes(
        '{"type":"hello","version":1,"deviceId":"d","credential":"c","zone":"eu","resume":{"lastSeq":2,"x":1}}',
      ),
    );
    assert.deepEqual(decoded, {
      type: 'hello',
      version: 1,
      deviceId: 'd',
      credential: 'c',
      capabilities: [],
      resume: { lastSeq: 2 },
    });
  });

  it('keeps a push payload exactly as sent, unknown keys included (it is opaque)', () => {
    // JSON.parse makes "__proto__" an ordinary own key; it must stay data and never reach a prototype.
    const payload = '{"__proto__":{"polluted":true},"future":{"a":[1,2]}}';
    const withProto = `{"type":"push","id":"m","seq":1,"kind":"alert","payload":${payload},"priority":10,"expiration":0}`;
    const push = decodeServerMessage(bytes(withProto));
    assert.equal(push.type, 'push');
    assert.deepEqual(Object.keys(push.type === 'push' ? (push.payload as object) : {}), [
      '__proto__',
      'future',
    ]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  });

  it('reads an error with a code from a newer version as LP_INTERNAL, keeping the text [LP-9.2]', () => {
    assert.deepEqual(decodeServerMessage(bytes('{"type":"error","code":"LP_QUOTA","message":"q"}')), {
      type: 'error',
      code: 'LP_INTERNAL',
      message: 'q',
    });
  });

  it('decodes a hello of another version so the server can answer LP_VERSION_UNSUPPORTED [LP-4.3]', () => {
    const hello = decodeClientMessage(bytes('{"type":"hello","version":7,"deviceId":"d","credential":"c"}'));
    assert.equal(hello.type === 'hello' ? hello.version : -1, 7);
  });
});

describe('malformed payloads [LP-2.4]', () => {
  it('rejects bad UTF-8, bad JSON and non-objects as LP_FRAME_MALFORMED with the cause attached', () => {
    const utf8 = rejects(Uint8Array.of(0x7b, 0xff, 0x7d), ProtocolErrorCode.FRAME_MALFORMED);
    assert.match(utf8.message, /UTF-8/);
    assert.ok(utf8.cause instanceof TypeError);
    const json = rejects('{"type":', ProtocolErrorCode.FRAME_MALFORMED);
    assert.ok(json.cause instanceof SyntaxError);
    for (const notObject of ['[]', '"s"', '1', 'null', 'false']) {
      assert.match(rejects(notObject, ProtocolErrorCode.FRAME_MALFORMED).message, /not a JSON object/);
    }
  });

  it('ignores a leading UTF-8 byte order mark (RFC 8259 §8.1 allows it; senders must not send one)', () => {
    const withBom = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"type":"ack","through":1}'),
    ]);
    assert.deepEqual(decodeClientMessage(withBom), { type: 'ack', through: 1 });
  });

  it('survives deeply nested payloads without a stack overflow', () => {
    const depth = 20_000;
    const text = `{"type":"push","id":"m","seq":1,"kind":"alert","priority":10,"expiration":0,"payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    assert.equal(decodeServerMessage(bytes(text)).type, 'push');
  });
});

describe('validation [LP-3.3]', () => {
  it('names the message and the field in the error text', () => {
    const base = '"type":"push","id":"m","kind":"alert","payload":1,"priority":10,"expiration":0';
    assert.match(rejects(`{${base},"seq":0}`, 'LP_MESSAGE_INVALID').message, /push\.seq .*≥ 1/);
    assert.match(
      rejects('{"type":"hello","version":1,"credential":"c"}', 'LP_MESSAGE_INVALID').message,
      /hello\.deviceId/,
    );
    const resume = '{"type":"hello","version":1,"deviceId":"d","credential":"c","resume":{"lastSeq":"1"}}';
    assert.match(rejects(resume, 'LP_MESSAGE_INVALID').message, /hello\.resume\.lastSeq/);
  });

  it('requires ids or through in an ack, and allows both [LP-6.5]', () => {
    assert.match(rejects('{"type":"ack"}', 'LP_MESSAGE_INVALID').message, /ids.*through/);
    assert.deepEqual(decodeClientMessage(bytes('{"type":"ack","ids":[]}')), { type: 'ack', ids: [] });
  });

  it('requires a redirect URL only for reason "redirect" [LP-8.4]', () => {
    rejects('{"type":"goaway","reason":"redirect"}', 'LP_MESSAGE_INVALID');
    assert.deepEqual(decodeServerMessage(bytes('{"type":"goaway","reason":"shutdown"}')), {
      type: 'goaway',
      reason: 'shutdown',
    });
  });

  it('accepts every push kind and priority, and rejects values outside them [LP-6.1, LP-6.2]', () => {
    for (const kind of ['alert', 'call', 'message', 'push-to-talk']) {
      for (const priority of [10, 5, 1]) {
        const text = `{"type":"push","id":"m","seq":1,"kind":"${kind}","payload":{},"priority":${priority},"expiration":0}`;
        assert.doesNotThrow(() => decodeServerMessage(bytes(text)));
      }
    }
    rejects(
      '{"type":"push","id":"m","seq":1,"kind":"voip","payload":{},"priority":10,"expiration":0}',
      'LP_MESSAGE_INVALID',
    );
    rejects(
      '{"type":"push","id":"m","seq":1,"kind":"call","payload":{},"priority":0,"expiration":0}',
      'LP_MESSAGE_INVALID',
    );
  });

  it('rejects numbers JSON.parse turns into Infinity or unsafe integers (kept out of the vectors: parsers differ)', () => {
    rejects('{"type":"heartbeat_ack","seq":1e400}', 'LP_MESSAGE_INVALID');
    rejects('{"type":"heartbeat_ack","seq":9007199254740993}', 'LP_MESSAGE_INVALID');
    assert.deepEqual(decodeClientMessage(bytes('{"type":"heartbeat_ack","seq":9007199254740991}')), {
      type: 'heartbeat_ack',
      seq: Number.MAX_SAFE_INTEGER,
    });
  });

  it('treats a present null as invalid, not as absent', () => {
    rejects('{"type":"goaway","reason":"shutdown","reconnectAfterMs":null}', 'LP_MESSAGE_INVALID');
    rejects(
      '{"type":"push","id":"m","seq":1,"kind":"call","payload":null,"priority":10,"expiration":0,"collapseId":null}',
      'LP_MESSAGE_INVALID',
    );
  });

  it('refuses messages whose type is missing (invalid) or unknown (unknown) [LP-3.2]', () => {
    rejects('{"seq":1}', 'LP_MESSAGE_INVALID');
    assert.match(rejects('{"type":"subscribe"}', 'LP_MESSAGE_UNKNOWN').message, /"subscribe"/);
    rejects('{"type":"constructor"}', 'LP_MESSAGE_UNKNOWN');
    rejects('{"type":"hasOwnProperty"}', 'LP_MESSAGE_UNKNOWN');
  });
});

describe('direction [LP-3.4]', () => {
  for (const [type, sender] of Object.entries(MESSAGE_SENDERS)) {
    it(`${type} may be sent by ${sender}`, () => {
      const payload = encodeMessage(examples[type as MessageType]);
      if (sender === 'client') {
        assert.doesNotThrow(() => decodeClientMessage(payload));
        const error = rejects(payload, ProtocolErrorCode.MESSAGE_UNEXPECTED, decodeServerMessage);
        assert.match(error.message, new RegExp(`a server may not send "${type}"`));
      } else if (sender === 'server') {
        assert.doesNotThrow(() => decodeServerMessage(payload));
        rejects(payload, ProtocolErrorCode.MESSAGE_UNEXPECTED, decodeClientMessage);
      } else {
        assert.doesNotThrow(() => decodeClientMessage(payload));
        assert.doesNotThrow(() => decodeServerMessage(payload));
      }
    });
  }

  it('validates before checking the direction, so a broken push is invalid on both sides', () => {
    const broken =
      '{"type":"push","id":"m","seq":0,"kind":"alert","payload":{},"priority":10,"expiration":0}';
    rejects(broken, ProtocolErrorCode.MESSAGE_INVALID, decodeClientMessage);
    rejects(broken, ProtocolErrorCode.MESSAGE_INVALID, decodeServerMessage);
  });
});

describe('ProtocolError', () => {
  it('is an Error with a stable name and code', () => {
    const error = new ProtocolError(ProtocolErrorCode.ACK_INVALID, 'x');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ProtocolError');
    assert.equal(error.code, 'LP_ACK_INVALID');
  });
});
