/**
 * Messages ⇄ frame payloads [LP-3]. Decoding validates every field, so code past the codec can trust
 * the shape of what it holds.
 */
import { ProtocolError, ProtocolErrorCode, isProtocolErrorCode } from './errors.js';
import {
  APNS_ENVIRONMENTS,
  APNS_TOKEN_PATTERN,
  APNS_TOPIC_PATTERN,
  BSSID_PATTERN,
  DEVICE_ID_PATTERN,
  GOAWAY_REASONS,
  LIMITS,
  MESSAGE_ID_PATTERN,
  MESSAGE_SENDERS,
  NOTICE_CODES,
  PUSH_KINDS,
  PUSH_PRIORITIES,
  type Ack,
  type ApnsToken,
  type ClientMessage,
  type ErrorMessage,
  type Goaway,
  type Heartbeat,
  type HeartbeatAck,
  type Hello,
  type HelloNetwork,
  type Message,
  type MessageType,
  type Notice,
  type Probe,
  type ProbeReply,
  type Push,
  type ServerMessage,
  type Welcome,
  type JsonValue,
} from './messages.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const utf8Encoder = new TextEncoder();

/** Serialises a message to its frame payload (UTF-8 JSON, no length prefix). */
export function encodeMessage(message: Message): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(message));
}

/** Decodes and validates a payload received by a server. [LP-3.4] */
export function decodeClientMessage(payload: Uint8Array): ClientMessage {
  return decodeFrom(payload, 'client') as ClientMessage;
}

/** Decodes and validates a payload received by a client. [LP-3.4] */
export function decodeServerMessage(payload: Uint8Array): ServerMessage {
  return decodeFrom(payload, 'server') as ServerMessage;
}

/** Decodes a payload from either side, without the direction check. For tools and test vectors. */
export function decodeMessage(payload: Uint8Array): Message {
  return validateMessage(parseJsonObject(payload));
}

function decodeFrom(payload: Uint8Array, sender: 'client' | 'server'): Message {
  const message = validateMessage(parseJsonObject(payload));
  const allowed = MESSAGE_SENDERS[message.type];
  if (allowed !== 'both' && allowed !== sender) {
    throw new ProtocolError(
      ProtocolErrorCode.MESSAGE_UNEXPECTED,
      `a ${sender} may not send "${message.type}" [LP-3.4]`,
    );
  }
  return message;
}

function parseJsonObject(payload: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8Decoder.decode(payload);
  } catch (cause) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame is not valid UTF-8 [LP-2.4]', {
      cause,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame is not valid JSON [LP-2.4]', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame is not a JSON object [LP-2.4]');
  }
  return value as Record<string, unknown>;
}

const MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.keys(MESSAGE_SENDERS));

/**
 * Validates a parsed JSON object as a message and returns a copy holding only the known fields —
 * unknown fields are ignored, so that later minor versions can add optional fields. [LP-3.5]
 */
export function validateMessage(value: Record<string, unknown>): Message {
  const type = value.type;
  if (typeof type !== 'string') invalid('field "type" must be a string');
  if (!MESSAGE_TYPES.has(type)) {
    throw new ProtocolError(ProtocolErrorCode.MESSAGE_UNKNOWN, `unknown message type "${type}" [LP-3.2]`);
  }
  const v = new Reader(value, type);
  switch (type as MessageType) {
    case 'hello':
      return readHello(v);
    case 'welcome':
      return readWelcome(v);
    case 'heartbeat':
      return { type: 'heartbeat', seq: v.uint('seq'), serverTime: v.uint('serverTime') } satisfies Heartbeat;
    case 'heartbeat_ack':
      return { type: 'heartbeat_ack', seq: v.uint('seq') } satisfies HeartbeatAck;
    case 'push':
      return readPush(v);
    case 'ack':
      return readAck(v);
    case 'apns_token':
      return {
        type: 'apns_token',
        token: v.pattern('token', APNS_TOKEN_PATTERN),
        topic: v.pattern('topic', APNS_TOPIC_PATTERN),
        environment: v.oneOf('environment', APNS_ENVIRONMENTS),
      } satisfies ApnsToken;
    case 'error':
      return readError(v);
    case 'goaway':
      return readGoaway(v);
    case 'notice':
      return readNotice(v);
    case 'probe':
      return readProbe(v);
    case 'probe_reply':
      return readProbeReply(v);
  }
}

function readHello(v: Reader): Hello {
  const hello: Hello = {
    type: 'hello',
    version: v.uint('version'),
    deviceId: v.pattern('deviceId', DEVICE_ID_PATTERN),
    credential: v.string('credential', 1, LIMITS.credentialMaxLength),
    capabilities: v.stringList('capabilities', LIMITS.capabilityMaxCount, LIMITS.capabilityMaxLength) ?? [],
  };
  const resume = v.optionalObject('resume');
  if (resume !== undefined) hello.resume = { lastSeq: new Reader(resume, 'hello.resume').uint('lastSeq') };
  const agent = v.optionalString('agent', LIMITS.textMaxLength);
  if (agent !== undefined) hello.agent = agent;
  const network = v.optionalObject('network');
  if (network !== undefined) hello.network = readHelloNetwork(new Reader(network, 'hello.network'));
  return hello;
}

/** [LP-10.4] Every field optional; an empty object is a valid (if useless) report. */
function readHelloNetwork(v: Reader): HelloNetwork {
  const network: HelloNetwork = {};
  const ssid = v.optionalString('ssid', LIMITS.ssidMaxLength);
  if (ssid !== undefined) network.ssid = ssid;
  if (v.has('bssid')) network.bssid = v.pattern('bssid', BSSID_PATTERN);
  if (v.has('signalDbm')) network.signalDbm = v.int('signalDbm', -150, 0);
  return network;
}

/** [LP-10.2] */
function readProbe(v: Reader): Probe {
  const probe: Probe = { type: 'probe', id: v.string('id', 1, LIMITS.probeIdMaxLength) };
  const pad = v.optionalString('pad', LIMITS.probePadMaxLength);
  if (pad !== undefined) probe.pad = pad;
  return probe;
}

function readProbeReply(v: Reader): ProbeReply {
  const reply: ProbeReply = {
    type: 'probe_reply',
    id: v.string('id', 1, LIMITS.probeIdMaxLength),
    serverTime: v.uint('serverTime'),
  };
  const pad = v.optionalString('pad', LIMITS.probePadMaxLength);
  if (pad !== undefined) reply.pad = pad;
  return reply;
}

function readWelcome(v: Reader): Welcome {
  return {
    type: 'welcome',
    version: v.uint('version'),
    sessionId: v.string('sessionId', 1, LIMITS.messageIdMaxLength),
    heartbeatIntervalMs: v.uint('heartbeatIntervalMs', 1),
    heartbeatGraceMs: v.uint('heartbeatGraceMs', 1),
    serverTime: v.uint('serverTime'),
    maxFrameBytes: v.uint('maxFrameBytes', 256),
    capabilities: v.stringList('capabilities', LIMITS.capabilityMaxCount, LIMITS.capabilityMaxLength) ?? [],
  };
}

function readPush(v: Reader): Push {
  const push: Push = {
    type: 'push',
    id: v.pattern('id', MESSAGE_ID_PATTERN),
    seq: v.uint('seq', 1),
    kind: v.oneOf('kind', PUSH_KINDS),
    payload: v.json('payload'),
    priority: v.oneOf('priority', PUSH_PRIORITIES),
    expiration: v.uint('expiration'),
  };
  const collapseId = v.optionalString('collapseId', LIMITS.collapseIdMaxLength);
  if (collapseId !== undefined) push.collapseId = collapseId;
  return push;
}

function readAck(v: Reader): Ack {
  const ack: Ack = { type: 'ack' };
  const ids = v.stringList('ids', LIMITS.ackIdsMaxCount, LIMITS.messageIdMaxLength);
  if (ids !== undefined) ack.ids = ids;
  const through = v.optionalUint('through');
  if (through !== undefined) ack.through = through;
  if (ack.ids === undefined && ack.through === undefined) {
    invalid('an ack needs "ids", "through", or both [LP-6.5]');
  }
  return ack;
}

function readError(v: Reader): ErrorMessage {
  const code = v.string('code', 1, 64);
  // An error from a newer peer may carry a code this version does not know; keep it readable as INTERNAL
  // rather than failing on the error itself. [LP-9.2]
  return {
    type: 'error',
    code: isProtocolErrorCode(code) ? code : ProtocolErrorCode.INTERNAL,
    message: v.optionalString('message', LIMITS.textMaxLength) ?? '',
  };
}

function readGoaway(v: Reader): Goaway {
  const goaway: Goaway = { type: 'goaway', reason: v.oneOf('reason', GOAWAY_REASONS) };
  const message = v.optionalString('message', LIMITS.textMaxLength);
  if (message !== undefined) goaway.message = message;
  const redirect = v.optionalString('redirect', LIMITS.textMaxLength);
  if (redirect !== undefined) goaway.redirect = redirect;
  if (goaway.reason === 'redirect' && redirect === undefined) invalid('a redirect goaway needs "redirect"');
  const after = v.optionalUint('reconnectAfterMs');
  if (after !== undefined) goaway.reconnectAfterMs = after;
  return goaway;
}

function readNotice(v: Reader): Notice {
  return {
    type: 'notice',
    code: v.oneOf('code', NOTICE_CODES),
    count: v.uint('count'),
    message: v.optionalString('message', LIMITS.textMaxLength) ?? '',
  };
}

function invalid(text: string): never {
  throw new ProtocolError(ProtocolErrorCode.MESSAGE_INVALID, text);
}

/** Typed field access with one error text per failure, naming the message and field. */
class Reader {
  constructor(
    private readonly value: Record<string, unknown>,
    private readonly where: string,
  ) {}

  private fail(field: string, expected: string): never {
    invalid(`${this.where}.${field} must be ${expected} [LP-3.3]`);
  }

  uint(field: string, min = 0): number {
    const x = this.value[field];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) {
      this.fail(field, `an integer ≥ ${min}`);
    }
    return x;
  }

  /** An integer in [min, max], negative ones included. */
  int(field: string, min: number, max: number): number {
    const x = this.value[field];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
      this.fail(field, `an integer from ${min} to ${max}`);
    }
    return x;
  }

  has(field: string): boolean {
    return this.value[field] !== undefined;
  }

  optionalUint(field: string): number | undefined {
    return this.value[field] === undefined ? undefined : this.uint(field);
  }

  string(field: string, minLength: number, maxLength: number): string {
    const x = this.value[field];
    if (typeof x !== 'string' || x.length < minLength || x.length > maxLength) {
      this.fail(field, `a string of ${minLength}–${maxLength} characters`);
    }
    return x;
  }

  optionalString(field: string, maxLength: number): string | undefined {
    return this.value[field] === undefined ? undefined : this.string(field, 0, maxLength);
  }

  pattern(field: string, pattern: RegExp): string {
    const x = this.value[field];
    if (typeof x !== 'string' || !pattern.test(x)) this.fail(field, `a string matching ${String(pattern)}`);
    return x;
  }

  oneOf<const T extends readonly (string | number)[]>(field: string, allowed: T): T[number] {
    const x = this.value[field];
    if (!(allowed as readonly unknown[]).includes(x)) this.fail(field, `one of ${allowed.join(', ')}`);
    return x as T[number];
  }

  stringList(field: string, maxCount: number, maxLength: number): string[] | undefined {
    const x = this.value[field];
    if (x === undefined) return undefined;
    if (
      !Array.isArray(x) ||
      x.length > maxCount ||
      !x.every((s) => typeof s === 'string' && s.length > 0 && s.length <= maxLength)
    ) {
      this.fail(field, `a list of at most ${maxCount} non-empty strings of at most ${maxLength} characters`);
    }
    return x as string[];
  }

  optionalObject(field: string): Record<string, unknown> | undefined {
    const x = this.value[field];
    if (x === undefined) return undefined;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) this.fail(field, 'an object');
    return x as Record<string, unknown>;
  }

  json(field: string): JsonValue {
    if (!(field in this.value)) this.fail(field, 'present (any JSON value)');
    return this.value[field] as JsonValue;
  }
}
