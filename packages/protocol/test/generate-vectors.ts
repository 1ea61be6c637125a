/**
 * Builds the language-neutral test vectors in packages/protocol/vectors/. The vectors are committed
 * files — other implementations (the Swift client) read them, not this script — and
 * test/vectors.test.ts checks that the committed files still equal what this script builds, so the two
 * cannot drift apart silently.
 *
 * Expected results are written here by hand from docs/protocol.md, never computed with the codec under
 * test; only the byte encoding (length prefix, hex) is computed.
 *
 * Regenerate: node --import tsx packages/protocol/test/generate-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface FrameCase {
  name: string;
  description?: string;
  /** Which side wrote the bytes; the other side decodes them. */
  sender: 'client' | 'server';
  /** Complete stream bytes, length prefixes included. */
  hex: string;
  maxFrameBytes?: number;
  /** The decoded message, for a case holding exactly one frame. */
  message?: Json;
  /** The decoded messages in order, for a case holding several frames (or frames before an error). */
  messages?: Json[];
  /** The error the stream ends with. */
  error?: string;
}

export interface InvalidCase {
  name: string;
  description?: string;
  /** A frame payload given as UTF-8 text … */
  text?: string;
  /** … or as hex bytes (for payloads that are not valid UTF-8) … */
  hex?: string;
  /** … or complete stream bytes, length prefix included, for framing errors. */
  frameHex?: string;
  maxFrameBytes?: number;
  /** Set only when the payload is valid but this receiver must refuse it (wrong direction). */
  receiver?: 'server' | 'client';
  error: string;
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** A 4-byte big-endian length prefix followed by the payload. */
function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.byteLength, 0);
  return Buffer.concat([header, payload]);
}

const hexOf = (...frames: string[]): string =>
  Buffer.concat(frames.map((f) => framed(utf8(f)))).toString('hex');

/** A case whose payload is `JSON.stringify(message)` and decodes back to the same message. */
function plain(name: string, sender: 'client' | 'server', message: { [key: string]: Json }): FrameCase {
  return { name, sender, hex: hexOf(JSON.stringify(message)), message };
}

/** A case whose wire text differs from the decoded message (defaults, dropped fields, escapes). */
function raw(name: string, sender: 'client' | 'server', text: string, message: Json, description?: string) {
  const c: FrameCase = { name, sender, hex: hexOf(text), message };
  if (description !== undefined) c.description = description;
  return c;
}

const x = (n: number, ch = 'a'): string => ch.repeat(n);
const welcome = {
  type: 'welcome',
  version: 1,
  sessionId: '6f1c2d3e-0000-4000-8000-000000000001',
  heartbeatIntervalMs: 20000,
  heartbeatGraceMs: 10000,
  serverTime: 1700000000000,
  maxFrameBytes: 65536,
  capabilities: [],
};
const heartbeat = { type: 'heartbeat', seq: 1, serverTime: 1700000020000 };
const helloMinimal = { type: 'hello', version: 1, deviceId: 'd', credential: 'c', capabilities: [] };
const alert = {
  type: 'push',
  id: 'msg-0001',
  seq: 1,
  kind: 'alert',
  payload: { title: 'Door', body: 'Front door opened' },
  priority: 10,
  expiration: 1700003600,
};

export function frameCases(): FrameCase[] {
  return [
    plain('hello-minimal', 'client', {
      type: 'hello',
      version: 1,
      deviceId: 'device-1',
      credential: 's3cret',
      capabilities: [],
    }),
    plain('hello-full', 'client', {
      type: 'hello',
      version: 1,
      deviceId: 'ward-7.ipad:42@site_A',
      credential: 'tok/en+with=symbols',
      resume: { lastSeq: 41 },
      capabilities: ['collapse', 'notice'],
      agent: 'LocalPushKit/1.0 (iPadOS 17.4; Größe ✓)',
    }),
    raw(
      'hello-without-capabilities',
      'client',
      '{"type":"hello","version":1,"deviceId":"d","credential":"c"}',
      { type: 'hello', version: 1, deviceId: 'd', credential: 'c', capabilities: [] },
      'capabilities is optional on the wire and reads as [] [LP-4.1]',
    ),
    raw(
      'hello-newer-version',
      'client',
      '{"type":"hello","version":2,"deviceId":"d","credential":"c","capabilities":[]}',
      { type: 'hello', version: 2, deviceId: 'd', credential: 'c', capabilities: [] },
      'an unknown version still decodes; the server answers LP_VERSION_UNSUPPORTED [LP-4.3]',
    ),
    plain('hello-limits', 'client', {
      type: 'hello',
      version: 1,
      deviceId: x(128, 'd'),
      credential: x(512, 'c'),
      resume: { lastSeq: 9007199254740991 },
      capabilities: Array.from({ length: 32 }, (_, i) => `${i}`.padStart(64, 'k')),
      agent: x(1024, 'g'),
    }),
    plain('welcome', 'server', welcome),
    plain('welcome-diagnostics', 'server', { ...welcome, capabilities: ['probe', 'diagnostic'] }),
    plain('hello-diagnostic-with-network', 'client', {
      type: 'hello',
      version: 1,
      deviceId: 'ward-7.nurse-call',
      credential: 's3cret',
      capabilities: ['probe', 'diagnostic'],
      agent: 'localpush-doctor',
      network: { ssid: 'Station 7 — Pflege', bssid: '64:d1:54:68:93:ae', signalDbm: -67 },
    }),
    plain('hello-network-empty', 'client', { ...helloMinimal, network: {} }),
    raw(
      'hello-network-unknown-field',
      'client',
      '{"type":"hello","version":1,"deviceId":"d","credential":"c","network":{"bssid":"AA:BB:CC:DD:EE:FF","noiseDbm":-90}}',
      {
        type: 'hello',
        version: 1,
        deviceId: 'd',
        credential: 'c',
        capabilities: [],
        network: { bssid: 'AA:BB:CC:DD:EE:FF' },
      },
      'unknown fields inside the network report are dropped like any other [LP-3.5] [LP-10.4]',
    ),
    plain('hello-network-limits', 'client', {
      ...helloMinimal,
      network: { ssid: x(64, 's'), signalDbm: -150 },
    }),
    plain('probe', 'client', { type: 'probe', id: '17' }),
    plain('probe-padded', 'client', { type: 'probe', id: x(64, 'p'), pad: x(4096, '.') }),
    plain('probe-reply', 'server', { type: 'probe_reply', id: '17', serverTime: 1700000000123 }),
    plain('probe-reply-padded', 'server', { type: 'probe_reply', id: 'p-2', serverTime: 0, pad: '....' }),
    plain('heartbeat', 'server', heartbeat),
    plain('heartbeat-ack', 'client', { type: 'heartbeat_ack', seq: 1 }),
    plain('push-alert', 'server', alert),
    plain('push-call', 'server', {
      type: 'push',
      id: 'call-7',
      seq: 2,
      kind: 'call',
      payload: { caller: 'Ward 7', room: 12 },
      priority: 10,
      expiration: 0,
    }),
    plain('push-message-collapse', 'server', {
      type: 'push',
      id: 'm3',
      seq: 3,
      kind: 'message',
      payload: 'plain string payload',
      priority: 5,
      expiration: 1700003600,
      collapseId: 'thread-9',
    }),
    plain('push-push-to-talk', 'server', {
      type: 'push',
      id: 'ptt-1',
      seq: 4,
      kind: 'push-to-talk',
      payload: null,
      priority: 1,
      expiration: 0,
    }),
    plain('push-payload-array', 'server', {
      type: 'push',
      id: 'arr',
      seq: 5,
      kind: 'alert',
      payload: [1, -2.5, true, false, null, 'x', { nested: [[]] }],
      priority: 10,
      expiration: 0,
    }),
    plain('push-payload-unicode', 'server', {
      type: 'push',
      id: 'uni',
      seq: 6,
      kind: 'message',
      payload: {
        de: 'Grüße aus Köln',
        ja: '東京の天気',
        ar: 'مرحبا',
        emoji: '🚑 👩🏽‍⚕️ 🇩🇪',
        combining: 'e\u0301',
        control: 'tab\there\nnewline "quoted" \\ backslash',
      },
      priority: 10,
      expiration: 0,
    }),
    raw(
      'push-payload-json-escapes',
      'server',
      '{"type":"push","id":"esc","seq":7,"kind":"alert","payload":"caf\\u00e9 \\ud83d\\ude91 \\/","priority":10,"expiration":0}',
      { type: 'push', id: 'esc', seq: 7, kind: 'alert', payload: 'café 🚑 /', priority: 10, expiration: 0 },
      'JSON \\u escapes, a surrogate pair and an escaped solidus decode like the literal characters',
    ),
    plain('push-limits', 'server', {
      type: 'push',
      id: x(128, '~'),
      seq: 9007199254740991,
      kind: 'alert',
      payload: {},
      priority: 10,
      expiration: 4102444800,
      collapseId: x(64, 'c'),
    }),
    plain('push-collapse-id-utf16', 'server', {
      type: 'push',
      id: 'u16',
      seq: 8,
      kind: 'alert',
      payload: {},
      priority: 10,
      expiration: 0,
      collapseId: x(32, '😀'),
    }),
    plain('ack-ids', 'client', { type: 'ack', ids: ['msg-0001', 'call-7'] }),
    plain('ack-through', 'client', { type: 'ack', through: 4 }),
    plain('ack-both', 'client', { type: 'ack', ids: ['m9'], through: 7 }),
    plain('ack-through-zero', 'client', { type: 'ack', through: 0 }),
    plain('apns-token', 'client', {
      type: 'apns_token',
      token: '5f1a3c9e0b7d4e2f8a6c1b3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f',
      topic: 'com.example.pager.voip',
      environment: 'development',
    }),
    plain('error-from-server', 'server', {
      type: 'error',
      code: 'LP_HEARTBEAT_TIMEOUT',
      message: 'heartbeat 3 not acknowledged within 10000 ms',
    }),
    plain('error-from-client', 'client', { type: 'error', code: 'LP_FRAME_MALFORMED', message: 'bad frame' }),
    raw(
      'error-unknown-code',
      'server',
      '{"type":"error","code":"LP_SOMETHING_NEW","message":"from a newer server"}',
      { type: 'error', code: 'LP_INTERNAL', message: 'from a newer server' },
      'an error code this version does not know reads as LP_INTERNAL [LP-9.2]',
    ),
    raw(
      'error-without-message',
      'server',
      '{"type":"error","code":"LP_AUTH_FAILED"}',
      { type: 'error', code: 'LP_AUTH_FAILED', message: '' },
      'message is optional on the wire and reads as ""',
    ),
    plain('goaway-shutdown', 'server', {
      type: 'goaway',
      reason: 'shutdown',
      message: 'server shutting down',
      reconnectAfterMs: 1000,
    }),
    plain('goaway-replaced', 'server', { type: 'goaway', reason: 'replaced' }),
    plain('goaway-redirect-tls', 'server', {
      type: 'goaway',
      reason: 'redirect',
      redirect: 'tls://push-2.ward.local:4433',
    }),
    plain('goaway-redirect-wss', 'server', {
      type: 'goaway',
      reason: 'redirect',
      redirect: 'wss://push-2.ward.local/v1/connect',
      reconnectAfterMs: 0,
    }),
    plain('goaway-maintenance', 'server', {
      type: 'goaway',
      reason: 'maintenance',
      message: 'back at 06:00',
      reconnectAfterMs: 600000,
    }),
    plain('notice-queue-overflow', 'server', {
      type: 'notice',
      code: 'queue_overflow',
      count: 12,
      message: '12 oldest messages dropped',
    }),
    raw('notice-expired-without-message', 'server', '{"type":"notice","code":"expired","count":3}', {
      type: 'notice',
      code: 'expired',
      count: 3,
      message: '',
    }),
    raw(
      'unknown-fields-ignored',
      'server',
      '{"type":"heartbeat","seq":5,"serverTime":1700000100000,"future":{"x":1},"load":0.5}',
      { type: 'heartbeat', seq: 5, serverTime: 1700000100000 },
      'fields a receiver does not know are dropped, never an error [LP-3.5]',
    ),
    raw(
      'unknown-fields-in-nested-object',
      'client',
      '{"type":"hello","version":1,"deviceId":"d","credential":"c","resume":{"lastSeq":3,"epoch":9},"capabilities":[]}',
      { type: 'hello', version: 1, deviceId: 'd', credential: 'c', resume: { lastSeq: 3 }, capabilities: [] },
    ),
    raw(
      'whitespace-and-key-order',
      'client',
      ' \r\n\t{ "seq" : 9 ,\n "type" : "heartbeat_ack" }\n',
      { type: 'heartbeat_ack', seq: 9 },
      'insignificant JSON whitespace and any key order are allowed',
    ),
    {
      name: 'three-frames-in-one-buffer',
      sender: 'server',
      hex: hexOf(JSON.stringify(welcome), JSON.stringify(heartbeat), JSON.stringify(alert)),
      messages: [welcome, heartbeat, alert],
    },
    {
      name: 'exact-max-frame',
      description: 'a payload of exactly maxFrameBytes (256 here) is allowed [LP-2.3]',
      sender: 'server',
      maxFrameBytes: 256,
      hex: hexOf(padTo(256, { type: 'heartbeat', seq: 1, serverTime: 0 })),
      message: { type: 'heartbeat', seq: 1, serverTime: 0 },
    },
    {
      name: 'zero-length-frame',
      sender: 'client',
      hex: '00000000',
      messages: [],
      error: 'LP_FRAME_MALFORMED',
    },
    {
      name: 'oversize-header-only',
      description: 'the 4-byte header alone (65537 > 65536) is enough to fail; no body is sent [LP-2.3]',
      sender: 'client',
      hex: '00010001',
      messages: [],
      error: 'LP_FRAME_TOO_LARGE',
    },
    {
      name: 'oversize-header-max-uint32',
      sender: 'server',
      hex: 'ffffffff7b',
      messages: [],
      error: 'LP_FRAME_TOO_LARGE',
    },
    {
      name: 'oversize-after-valid-frame',
      sender: 'server',
      hex: hexOf(JSON.stringify(heartbeat)) + '00000101',
      maxFrameBytes: 256,
      messages: [heartbeat],
      error: 'LP_FRAME_TOO_LARGE',
    },
    {
      name: 'truncated-body',
      description: 'the stream ends 4 bytes short of the announced body [LP-2.5]',
      sender: 'client',
      hex: hexOf('{"type":"heartbeat_ack","seq":1}').slice(0, -8),
      messages: [],
      error: 'LP_FRAME_TRUNCATED',
    },
    {
      name: 'truncated-header',
      sender: 'server',
      hex: hexOf(JSON.stringify(heartbeat)) + '0000',
      messages: [heartbeat],
      error: 'LP_FRAME_TRUNCATED',
    },
  ];
}

/** JSON text of `message` padded with insignificant spaces to exactly `bytes` bytes. */
function padTo(bytes: number, message: Json): string {
  const text = JSON.stringify(message);
  return text + ' '.repeat(bytes - Buffer.byteLength(text));
}

/** A payload that is valid JSON but breaks one field. */
const field = (name: string, value: { [key: string]: Json }, description?: string): InvalidCase => {
  const c: InvalidCase = { name, text: JSON.stringify(value), error: 'LP_MESSAGE_INVALID' };
  if (description !== undefined) c.description = description;
  return c;
};
const hello: { [key: string]: Json } = {
  type: 'hello',
  version: 1,
  deviceId: 'd',
  credential: 'c',
  capabilities: [],
};
const push: { [key: string]: Json } = {
  type: 'push',
  id: 'm',
  seq: 1,
  kind: 'alert',
  payload: {},
  priority: 10,
  expiration: 0,
};
const goaway: { [key: string]: Json } = { type: 'goaway', reason: 'shutdown' };
const notice: { [key: string]: Json } = { type: 'notice', code: 'expired', count: 1, message: '' };
const omit = <T extends Record<string, Json>>(o: T, key: keyof T): Record<string, Json> => {
  const copy: Record<string, Json> = { ...o };
  delete copy[key as string];
  return copy;
};

export function invalidCases(): InvalidCase[] {
  const malformed = (name: string, text: string, description?: string): InvalidCase => {
    const c: InvalidCase = { name, text, error: 'LP_FRAME_MALFORMED' };
    if (description !== undefined) c.description = description;
    return c;
  };
  const badUtf8 = (name: string, hex: string): InvalidCase => ({ name, hex, error: 'LP_FRAME_MALFORMED' });
  const unknown = (name: string, text: string): InvalidCase => ({ name, text, error: 'LP_MESSAGE_UNKNOWN' });
  const wrongWay = (name: string, receiver: 'server' | 'client', message: Json): InvalidCase => ({
    name,
    text: JSON.stringify(message),
    receiver,
    error: 'LP_MESSAGE_UNEXPECTED',
  });
  const fr = (name: string, frameHex: string, error: string, maxFrameBytes?: number): InvalidCase =>
    maxFrameBytes === undefined ? { name, frameHex, error } : { name, frameHex, maxFrameBytes, error };
  return [
    // Framing [LP-2]
    fr('zero-length-frame', '00000000', 'LP_FRAME_MALFORMED'),
    fr('oversize-header-default-limit', '00010001', 'LP_FRAME_TOO_LARGE'),
    fr('oversize-header-max-uint32', 'ffffffff', 'LP_FRAME_TOO_LARGE'),
    fr('oversize-header-custom-limit', '00000101', 'LP_FRAME_TOO_LARGE', 256),
    fr('truncated-body-at-eof', '0000000a7b2274797065', 'LP_FRAME_TRUNCATED'),
    fr('truncated-header-at-eof', '000000', 'LP_FRAME_TRUNCATED'),
    // Not JSON [LP-2.4]
    malformed('empty-payload', ''),
    malformed('bad-json-unclosed', '{"type":"hello"'),
    malformed('bad-json-trailing-comma', '{"type":"heartbeat_ack","seq":1,}'),
    malformed('bad-json-single-quotes', "{'type':'heartbeat_ack','seq':1}"),
    malformed('bad-json-nan', '{"type":"heartbeat_ack","seq":NaN}'),
    malformed('bad-json-two-values', '{"type":"heartbeat_ack","seq":1}{}'),
    malformed('bad-json-comment', '{"type":"heartbeat_ack",/* c */"seq":1}'),
    malformed('not-object-array', '[{"type":"heartbeat_ack","seq":1}]'),
    malformed('not-object-string', '"hello"'),
    malformed('not-object-number', '42'),
    malformed('not-object-null', 'null'),
    malformed('not-object-true', 'true'),
    badUtf8(
      'bad-utf8-lone-continuation',
      Buffer.concat([utf8('{"type":"x'), Buffer.from([0x80]), utf8('"}')]).toString('hex'),
    ),
    badUtf8(
      'bad-utf8-invalid-byte-in-string',
      Buffer.concat([
        utf8('{"type":"heartbeat_ack","seq":1,"n":"'),
        Buffer.from([0xff]),
        utf8('"}'),
      ]).toString('hex'),
    ),
    badUtf8(
      'bad-utf8-overlong-slash',
      Buffer.concat([
        utf8('{"type":"heartbeat_ack","seq":1,"n":"'),
        Buffer.from([0xc0, 0xaf]),
        utf8('"}'),
      ]).toString('hex'),
    ),
    badUtf8(
      'bad-utf8-encoded-surrogate',
      Buffer.concat([
        utf8('{"type":"heartbeat_ack","seq":1,"n":"'),
        Buffer.from([0xed, 0xa0, 0x80]),
        utf8('"}'),
      ]).toString('hex'),
    ),
    badUtf8(
      'bad-utf8-truncated-sequence',
      Buffer.concat([
        utf8('{"type":"heartbeat_ack","seq":1,"n":"'),
        Buffer.from([0xe6, 0x9d]),
        utf8('"}'),
      ]).toString('hex'),
    ),
    // The type field [LP-3.2]
    field('type-missing', { seq: 1 }),
    field('type-not-string', { type: 1 }),
    unknown('type-unknown', '{"type":"subscribe","topic":"x"}'),
    unknown('type-wrong-case', '{"type":"Hello","version":1,"deviceId":"d","credential":"c"}'),
    unknown('type-empty', '{"type":""}'),
    unknown('type-prototype-name', '{"type":"__proto__"}'),
    unknown('type-object-method-name', '{"type":"toString"}'),
    // hello [LP-4.1, LP-3.3]
    field('hello-version-missing', omit(hello, 'version')),
    field('hello-version-string', { ...hello, version: '1' }),
    field('hello-version-negative', { ...hello, version: -1 }),
    field('hello-version-fraction', { ...hello, version: 1.5 }),
    field('hello-device-id-missing', omit(hello, 'deviceId')),
    field('hello-device-id-empty', { ...hello, deviceId: '' }),
    field('hello-device-id-too-long', { ...hello, deviceId: x(129, 'd') }),
    field('hello-device-id-space', { ...hello, deviceId: 'ward 7' }),
    field('hello-device-id-non-ascii', { ...hello, deviceId: 'gerät' }),
    field('hello-credential-missing', omit(hello, 'credential')),
    field('hello-credential-empty', { ...hello, credential: '' }),
    field('hello-credential-too-long', { ...hello, credential: x(513, 'c') }),
    field('hello-capabilities-not-list', { ...hello, capabilities: 'collapse' }),
    field('hello-capabilities-empty-string', { ...hello, capabilities: [''] }),
    field('hello-capabilities-not-strings', { ...hello, capabilities: [1] }),
    field('hello-capabilities-too-many', {
      ...hello,
      capabilities: Array.from({ length: 33 }, (_, i) => `c${i}`),
    }),
    field('hello-capability-too-long', { ...hello, capabilities: [x(65, 'k')] }),
    field('hello-resume-not-object', { ...hello, resume: 5 }),
    field('hello-resume-null', { ...hello, resume: null }, 'null is not the same as absent [LP-3.3]'),
    field('hello-resume-array', { ...hello, resume: [1] }),
    field('hello-resume-last-seq-missing', { ...hello, resume: {} }),
    field('hello-resume-last-seq-negative', { ...hello, resume: { lastSeq: -1 } }),
    field('hello-agent-not-string', { ...hello, agent: 7 }),
    field('hello-agent-null', { ...hello, agent: null }),
    field('hello-agent-too-long', { ...hello, agent: x(1025, 'g') }),
    // hello.network [LP-10.4]
    field('hello-network-null', { ...hello, network: null }),
    field('hello-network-not-object', { ...hello, network: 'wifi' }),
    field('hello-network-ssid-too-long', { ...hello, network: { ssid: x(65, 's') } }),
    field('hello-network-ssid-number', { ...hello, network: { ssid: 7 } }),
    field('hello-network-bssid-short', { ...hello, network: { bssid: 'aa:bb:cc:dd:ee' } }),
    field('hello-network-bssid-dashes', { ...hello, network: { bssid: 'aa-bb-cc-dd-ee-ff' } }),
    field('hello-network-bssid-null', { ...hello, network: { bssid: null } }),
    field('hello-network-signal-positive', { ...hello, network: { signalDbm: 3 } }),
    field('hello-network-signal-too-low', { ...hello, network: { signalDbm: -151 } }),
    field('hello-network-signal-fraction', { ...hello, network: { signalDbm: -67.5 } }),
    field('hello-network-signal-string', { ...hello, network: { signalDbm: '-67' } }),
    // welcome [LP-4.6]
    field('welcome-session-id-empty', { ...welcome, sessionId: '' }),
    field('welcome-interval-zero', { ...welcome, heartbeatIntervalMs: 0 }),
    field('welcome-grace-zero', { ...welcome, heartbeatGraceMs: 0 }),
    field('welcome-max-frame-too-small', { ...welcome, maxFrameBytes: 255 }),
    field('welcome-server-time-missing', omit(welcome, 'serverTime')),
    field('welcome-version-missing', omit(welcome, 'version')),
    // heartbeat, heartbeat_ack [LP-5]
    field('heartbeat-seq-missing', { type: 'heartbeat', serverTime: 0 }),
    field('heartbeat-seq-unsafe-integer', { type: 'heartbeat', seq: 9007199254740992, serverTime: 0 }),
    field('heartbeat-server-time-negative', { type: 'heartbeat', seq: 1, serverTime: -1 }),
    field('heartbeat-ack-seq-string', { type: 'heartbeat_ack', seq: '1' }),
    // push [LP-6]
    field('push-id-missing', omit(push, 'id')),
    field('push-id-empty', { ...push, id: '' }),
    field('push-id-space', { ...push, id: 'a b' }),
    field('push-id-non-ascii', { ...push, id: 'naïve' }),
    field('push-id-too-long', { ...push, id: x(129, 'i') }),
    field('push-seq-zero', { ...push, seq: 0 }),
    field('push-seq-missing', omit(push, 'seq')),
    field('push-kind-unknown', { ...push, kind: 'sms' }),
    field('push-kind-missing', omit(push, 'kind')),
    field('push-payload-missing', omit(push, 'payload')),
    field('push-priority-unknown', { ...push, priority: 7 }),
    field('push-priority-string', { ...push, priority: '10' }),
    field('push-expiration-negative', { ...push, expiration: -1 }),
    field('push-expiration-fraction', { ...push, expiration: 1.5 }),
    field('push-expiration-missing', omit(push, 'expiration')),
    field('push-collapse-id-too-long', { ...push, collapseId: x(65, 'c') }),
    field(
      'push-collapse-id-utf16-too-long',
      { ...push, collapseId: x(33, '😀') },
      'lengths count UTF-16 code units: 33 emoji are 66 [LP-3.3]',
    ),
    field('push-collapse-id-number', { ...push, collapseId: 5 }),
    field('push-collapse-id-null', { ...push, collapseId: null }),
    // ack [LP-6.5]
    field('ack-empty', { type: 'ack' }),
    field('ack-ids-not-list', { type: 'ack', ids: 'm1' }),
    field('ack-ids-empty-string', { type: 'ack', ids: [''] }),
    field('ack-ids-too-many', { type: 'ack', ids: Array.from({ length: 1025 }, (_, i) => `${i}`) }),
    field('ack-id-too-long', { type: 'ack', ids: [x(129, 'i')] }),
    field('ack-through-negative', { type: 'ack', through: -1 }),
    field('ack-through-string', { type: 'ack', through: '5' }),
    field('ack-through-null', { type: 'ack', through: null }),
    // apns_token [LP-6.9]
    field('apns-token-odd-length', {
      type: 'apns_token',
      token: 'abc',
      topic: 'com.a',
      environment: 'production',
    }),
    field('apns-token-not-hex', {
      type: 'apns_token',
      token: 'zz',
      topic: 'com.a',
      environment: 'production',
    }),
    field('apns-token-bad-topic', {
      type: 'apns_token',
      token: 'ab',
      topic: 'com..a',
      environment: 'production',
    }),
    field('apns-token-bad-environment', {
      type: 'apns_token',
      token: 'ab',
      topic: 'com.a',
      environment: 'staging',
    }),
    // error [LP-9]
    field('error-code-missing', { type: 'error', message: 'x' }),
    field('error-code-number', { type: 'error', code: 500, message: 'x' }),
    field('error-code-empty', { type: 'error', code: '', message: 'x' }),
    field('error-code-too-long', { type: 'error', code: x(65, 'E'), message: 'x' }),
    field('error-message-number', { type: 'error', code: 'LP_INTERNAL', message: 1 }),
    field('error-message-too-long', { type: 'error', code: 'LP_INTERNAL', message: x(1025, 'm') }),
    // goaway [LP-8]
    field('goaway-reason-unknown', { type: 'goaway', reason: 'bored' }),
    field('goaway-reason-missing', { type: 'goaway' }),
    field('goaway-redirect-without-url', { type: 'goaway', reason: 'redirect' }),
    field('goaway-redirect-not-string', { ...goaway, reason: 'redirect', redirect: 443 }),
    field('goaway-message-too-long', { ...goaway, message: x(1025, 'm') }),
    field('goaway-reconnect-after-negative', { ...goaway, reconnectAfterMs: -1 }),
    // notice [LP-6.7]
    field('notice-code-unknown', { ...notice, code: 'dropped' }),
    field('notice-count-missing', omit(notice, 'count')),
    field('notice-count-negative', { ...notice, count: -1 }),
    field('notice-message-number', { ...notice, message: 3 }),
    // probe, probe_reply [LP-10.2]
    field('probe-id-missing', { type: 'probe' }),
    field('probe-id-empty', { type: 'probe', id: '' }),
    field('probe-id-too-long', { type: 'probe', id: x(65, 'p') }),
    field('probe-id-number', { type: 'probe', id: 17 }),
    field('probe-pad-too-long', { type: 'probe', id: '1', pad: x(4097, '.') }),
    field('probe-pad-null', { type: 'probe', id: '1', pad: null }),
    field('probe-reply-server-time-missing', { type: 'probe_reply', id: '1' }),
    field('probe-reply-id-missing', { type: 'probe_reply', serverTime: 0 }),
    // Direction [LP-3.4]
    wrongWay('server-receives-welcome', 'server', welcome),
    wrongWay('server-receives-heartbeat', 'server', heartbeat),
    wrongWay('server-receives-push', 'server', push),
    wrongWay('server-receives-goaway', 'server', goaway),
    wrongWay('server-receives-notice', 'server', notice),
    wrongWay('client-receives-hello', 'client', hello),
    wrongWay('client-receives-heartbeat-ack', 'client', { type: 'heartbeat_ack', seq: 1 }),
    wrongWay('client-receives-ack', 'client', { type: 'ack', through: 1 }),
    wrongWay('server-receives-probe-reply', 'server', { type: 'probe_reply', id: '1', serverTime: 0 }),
    wrongWay('client-receives-probe', 'client', { type: 'probe', id: '1' }),
    wrongWay('client-receives-apns-token', 'client', {
      type: 'apns_token',
      token: 'ab',
      topic: 'com.a',
      environment: 'production',
    }),
  ];
}

export function vectorFiles(): Record<'frames.json' | 'invalid.json', unknown> {
  return {
    'frames.json': {
      protocolVersion: 1,
      description:
        'Valid localpush v1 byte streams and what they decode to, plus framing failures. See README.md.',
      defaultMaxFrameBytes: 65536,
      cases: frameCases(),
    },
    'invalid.json': {
      protocolVersion: 1,
      description:
        'Payloads and streams a localpush v1 receiver must refuse, with the error code. See README.md.',
      defaultMaxFrameBytes: 65536,
      cases: invalidCases(),
    },
  };
}

export const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));

/** Pretty-printed with the repository's prettier settings, so `prettier --check` passes on the output. */
export async function render(path: string, content: unknown): Promise<string> {
  // Loaded here, not at the top, so the tests that import this module do not load prettier.
  const { format, resolveConfig } = await import('prettier');
  const options = (await resolveConfig(path)) ?? {};
  return format(JSON.stringify(content), { ...options, parser: 'json', filepath: path });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [name, content] of Object.entries(vectorFiles())) {
    writeFileSync(VECTORS_DIR + name, await render(VECTORS_DIR + name, content));
    console.log(`wrote ${VECTORS_DIR}${name}`);
  }
}
