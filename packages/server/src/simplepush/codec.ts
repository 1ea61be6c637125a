/**
 * The wire format of Apple's "SimplePush" sample (docs/simplepush.md), written from the protocol facts:
 * 4-byte little-endian length framing, a JSON envelope (`request` / `acknowledge`), and inner messages
 * carried as base64 of their own JSON, picked by `codingKey`.
 *
 * Pure: no I/O, no timers. Every malformed input throws a {@link SimplePushError} with a stable code.
 */

import { CodedError, LengthPrefixDecoder, lengthPrefixed } from '@localpush/protocol';

/** Stable error codes of the SimplePush gateway. Never reused for another meaning once published. */
export const SimplePushErrorCode = {
  /** A frame header announced more bytes than the configured maximum. */
  FRAME_TOO_LARGE: 'LP_SP_FRAME_TOO_LARGE',
  /** The connection ended in the middle of a frame. */
  FRAME_TRUNCATED: 'LP_SP_FRAME_TRUNCATED',
  /** A frame (or a payload's decoded data) is empty, not UTF-8, or not JSON. */
  BAD_JSON: 'LP_SP_BAD_JSON',
  /** The envelope is JSON but not a `request` or `acknowledge` of the expected shape. */
  BAD_ENVELOPE: 'LP_SP_BAD_ENVELOPE',
  /** `payload.data` is not canonical base64. */
  BAD_BASE64: 'LP_SP_BAD_BASE64',
  /** `payload.codingKey` names no message type (valid: 0..5). */
  UNKNOWN_CODING_KEY: 'LP_SP_UNKNOWN_CODING_KEY',
  /** The inner message misses a field or has one of the wrong type (a UUID that is not a UUID, …). */
  BAD_MESSAGE: 'LP_SP_BAD_MESSAGE',
  /** The first message on a connection was not a User registration. */
  NOT_REGISTERED: 'LP_SP_NOT_REGISTERED',
  /** No registration arrived within the registration timeout. */
  REGISTRATION_TIMEOUT: 'LP_SP_REGISTRATION_TIMEOUT',
  /** A second registration on one connection named a different user. */
  USER_CHANGED: 'LP_SP_USER_CHANGED',
  /** A request was not acknowledged in time (the control channel disconnects on this). */
  ACK_TIMEOUT: 'LP_SP_ACK_TIMEOUT',
  /** A newer connection of the same user on the same channel replaced this one. */
  REPLACED: 'LP_SP_REPLACED',
  /** The gateway (or client) is shutting down. */
  SHUTTING_DOWN: 'LP_SP_SHUTTING_DOWN',
} as const;

export type SimplePushErrorCode = (typeof SimplePushErrorCode)[keyof typeof SimplePushErrorCode];

/** An error in SimplePush input, with a stable {@link SimplePushErrorCode}. */
export class SimplePushError extends CodedError<SimplePushErrorCode> {
  override readonly name = 'SimplePushError';
}

/** Bytes of the length prefix. */
export const SP_FRAME_HEADER_BYTES = 4;
/**
 * Default largest frame accepted. The sample sets no limit; 1 MiB holds a directory of several thousand
 * users while keeping one connection from making the server buffer without bound.
 */
export const SP_DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** The channel a connection serves: the app's control channel or the extension's notification channel. */
export const SimplePushChannel = { control: 'control', notification: 'notification' } as const;
export type SimplePushChannel = (typeof SimplePushChannel)[keyof typeof SimplePushChannel];

/** A user as the sample encodes it. `uuid` is upper-case, as Swift's `UUID.uuidString` prints it. */
export interface SpUser {
  uuid: string;
  deviceName: string;
}

/** Who a text or invite is from and to. */
export interface SpRouting {
  sender: SpUser;
  receiver: SpUser;
}

export const SpCallActionKind = { connect: 'connect', hangup: 'hangup', unavailable: 'unavailable' } as const;
export type SpCallActionKind = (typeof SpCallActionKind)[keyof typeof SpCallActionKind];

/** The inner messages, tagged by `type` on our side (the wire tags them by `codingKey`). */
export type SpMessage =
  | { type: 'invite'; routing: SpRouting }
  | { type: 'user'; user: SpUser }
  | { type: 'callAction'; action: SpCallActionKind; receiver?: SpUser }
  | { type: 'textMessage'; routing: SpRouting; message: string }
  | { type: 'heartbeat'; count: number }
  | { type: 'directory'; users: SpUser[] };

export type SpMessageType = SpMessage['type'];

/** `codingKey` of each message type on the wire. */
export const SP_CODING_KEY = {
  invite: 0,
  user: 1,
  callAction: 2,
  textMessage: 3,
  heartbeat: 4,
  directory: 5,
} as const satisfies Record<SpMessageType, number>;

const TYPE_BY_CODING_KEY: readonly SpMessageType[] = [
  'invite',
  'user',
  'callAction',
  'textMessage',
  'heartbeat',
  'directory',
];

/** One decoded frame. */
export type SpEnvelope =
  | { command: 'request'; requestIdentifier: number; message: SpMessage }
  | { command: 'acknowledge'; requestIdentifier: number };

const MAX_UINT32 = 0xffff_ffff;
const UUID_PATTERN = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------
// Framing

/** Prefixes `payload` with its 4-byte little-endian length. */
export function encodeSpFrame(payload: Uint8Array): Uint8Array {
  return lengthPrefixed(payload, true);
}

/**
 * Splits a byte stream into frame payloads; chunks of any size, one byte at a time included. An oversize
 * header throws before any of its body is buffered, so a peer cannot make the decoder hold more than one
 * maximum frame. After a throw the decoder is spent: the connection is to be closed. (The buffering is
 * the protocol package's {@link LengthPrefixDecoder}, little-endian.)
 */
export class SpFrameDecoder {
  private readonly decoder: LengthPrefixDecoder;

  constructor(readonly maxFrameBytes: number = SP_DEFAULT_MAX_FRAME_BYTES) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_UINT32) {
      throw new RangeError(
        `maxFrameBytes must be an integer from 1 to ${MAX_UINT32}, got ${String(maxFrameBytes)}`,
      );
    }
    this.decoder = new LengthPrefixDecoder({
      littleEndian: true,
      // Zero-length frames are allowed: they come out as empty payloads (and fail as bad JSON later).
      checkLength: (length) =>
        length > maxFrameBytes
          ? new SimplePushError(
              SimplePushErrorCode.FRAME_TOO_LARGE,
              `frame of ${length} bytes exceeds the maximum of ${maxFrameBytes}`,
            )
          : undefined,
      truncated: () =>
        new SimplePushError(SimplePushErrorCode.FRAME_TRUNCATED, 'connection closed inside a frame'),
    });
  }

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.decoder.pendingBytes;
  }

  /**
   * Returns the payloads completed by `chunk`. Zero-length frames come out as empty payloads. An oversize
   * header throws at once, and the frames of the same chunk before it are dropped with the connection.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames = this.decoder.push(chunk);
    const failure = this.decoder.failure;
    if (failure !== undefined) throw failure;
    return frames;
  }

  /** Throws when the stream ended inside a frame. A spent decoder (it threw already) does not throw again. */
  end(): void {
    if (this.decoder.failure !== undefined) return;
    this.decoder.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** The inner message as the sample's Swift types encode it (field names and shapes). */
export function innerJson(message: SpMessage): object {
  switch (message.type) {
    case 'invite':
      return { routing: routingJson(message.routing) };
    case 'user':
      return userJson(message.user);
    case 'callAction':
      // Swift's synthesized Codable omits a nil optional (encodeIfPresent), so an absent receiver is absent.
      return message.receiver === undefined
        ? { action: message.action }
        : { action: message.action, receiver: userJson(message.receiver) };
    case 'textMessage':
      return { routing: routingJson(message.routing), message: message.message };
    case 'heartbeat':
      return { count: message.count };
    case 'directory':
      return { users: message.users.map(userJson) };
  }
}

const userJson = (user: SpUser): SpUser => ({ uuid: user.uuid.toUpperCase(), deviceName: user.deviceName });
const routingJson = (routing: SpRouting): SpRouting => ({
  sender: userJson(routing.sender),
  receiver: userJson(routing.receiver),
});

/** The envelope bytes of a request (without the length prefix). */
export function encodeSpRequest(requestIdentifier: number, message: SpMessage): Uint8Array {
  checkRequestIdentifier(requestIdentifier);
  const data = Buffer.from(JSON.stringify(innerJson(message)), 'utf8').toString('base64');
  return utf8Encoder.encode(
    JSON.stringify({
      command: 'request',
      requestIdentifier,
      payload: { codingKey: SP_CODING_KEY[message.type], data },
    }),
  );
}

/** The envelope bytes of an acknowledgement (without the length prefix). */
export function encodeSpAcknowledge(requestIdentifier: number): Uint8Array {
  checkRequestIdentifier(requestIdentifier);
  return utf8Encoder.encode(JSON.stringify({ command: 'acknowledge', requestIdentifier }));
}

function checkRequestIdentifier(id: number): void {
  if (!isUint32(id)) throw new RangeError(`requestIdentifier must be a uint32, got ${String(id)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes one frame payload. Unknown keys are ignored, as Swift's JSONDecoder ignores them; everything the
 * sample's types require is checked. UUIDs are accepted in either case (Swift's `UUID(uuidString:)` does)
 * and returned upper-case, so one user is one key whatever a client sends.
 */
export function decodeSpEnvelope(payload: Uint8Array): SpEnvelope {
  const envelope = parseJson(payload, 'frame');
  if (!isRecord(envelope)) throw bad(SimplePushErrorCode.BAD_ENVELOPE, 'the envelope is not a JSON object');
  const { command, requestIdentifier } = envelope;
  if (!isUint32(requestIdentifier)) {
    throw bad(SimplePushErrorCode.BAD_ENVELOPE, 'requestIdentifier is missing or not a uint32');
  }
  if (command === 'acknowledge') return { command, requestIdentifier };
  if (command !== 'request') {
    throw bad(SimplePushErrorCode.BAD_ENVELOPE, `command must be "request" or "acknowledge"`);
  }
  const body = envelope['payload'];
  if (!isRecord(body)) throw bad(SimplePushErrorCode.BAD_ENVELOPE, 'a request needs a payload object');
  const { codingKey, data } = body;
  if (typeof codingKey !== 'number' || !Number.isInteger(codingKey)) {
    throw bad(SimplePushErrorCode.BAD_ENVELOPE, 'payload.codingKey is missing or not an integer');
  }
  const type = TYPE_BY_CODING_KEY[codingKey];
  if (type === undefined) {
    throw bad(SimplePushErrorCode.UNKNOWN_CODING_KEY, `codingKey ${codingKey} names no message (0..5)`);
  }
  if (typeof data !== 'string') throw bad(SimplePushErrorCode.BAD_ENVELOPE, 'payload.data is not a string');
  return { command, requestIdentifier, message: decodeInner(type, decodeBase64(data)) };
}

/** Decodes the inner message `type` from its JSON bytes. */
export function decodeInner(type: SpMessageType, json: Uint8Array): SpMessage {
  const value = parseJson(json, 'payload.data');
  if (!isRecord(value)) throw bad(SimplePushErrorCode.BAD_MESSAGE, `${type}: not a JSON object`);
  switch (type) {
    case 'invite':
      return { type, routing: routingField(value, 'routing', type) };
    case 'user':
      return { type, user: userValue(value, type) };
    case 'callAction': {
      const action = value['action'];
      if (action !== 'connect' && action !== 'hangup' && action !== 'unavailable') {
        throw bad(
          SimplePushErrorCode.BAD_MESSAGE,
          `callAction: action must be connect, hangup or unavailable`,
        );
      }
      // Swift decodes a JSON null for an optional as nil, so null is "no receiver" here too.
      const receiver = value['receiver'];
      if (receiver === undefined || receiver === null) return { type, action };
      return { type, action, receiver: userValue(receiver, 'callAction.receiver') };
    }
    case 'textMessage': {
      const message = value['message'];
      if (typeof message !== 'string') throw bad(SimplePushErrorCode.BAD_MESSAGE, 'textMessage: message');
      return { type, routing: routingField(value, 'routing', type), message };
    }
    case 'heartbeat': {
      const count = value['count'];
      if (typeof count !== 'number' || !Number.isSafeInteger(count)) {
        throw bad(SimplePushErrorCode.BAD_MESSAGE, 'heartbeat: count must be an integer');
      }
      return { type, count };
    }
    case 'directory': {
      const users = value['users'];
      if (!Array.isArray(users))
        throw bad(SimplePushErrorCode.BAD_MESSAGE, 'directory: users must be an array');
      return { type, users: users.map((u: unknown, i) => userValue(u, `directory.users[${i}]`)) };
    }
  }
}

/** Decodes canonical base64 (standard alphabet, padded), as Swift's `Data(base64Encoded:)` expects it. */
export function decodeBase64(text: string): Uint8Array {
  // Buffer.from(…, 'base64') silently skips junk; the sample's decoder rejects it, so we check first.
  if (!BASE64_PATTERN.test(text)) {
    throw bad(SimplePushErrorCode.BAD_BASE64, 'payload.data is not padded standard base64');
  }
  return Buffer.from(text, 'base64');
}

/** True for a canonical UUID string (either case). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  if (bytes.byteLength === 0) throw bad(SimplePushErrorCode.BAD_JSON, `${what} is empty`);
  try {
    return JSON.parse(utf8.decode(bytes)) as unknown;
  } catch (cause) {
    throw new SimplePushError(SimplePushErrorCode.BAD_JSON, `${what} is not UTF-8 JSON`, { cause });
  }
}

function userValue(value: unknown, where: string): SpUser {
  if (!isRecord(value)) throw bad(SimplePushErrorCode.BAD_MESSAGE, `${where}: a user must be an object`);
  const { uuid, deviceName } = value;
  if (!isUuid(uuid)) throw bad(SimplePushErrorCode.BAD_MESSAGE, `${where}: uuid is not a UUID`);
  if (typeof deviceName !== 'string') throw bad(SimplePushErrorCode.BAD_MESSAGE, `${where}: deviceName`);
  return { uuid: uuid.toUpperCase(), deviceName };
}

function routingField(value: Record<string, unknown>, key: string, where: string): SpRouting {
  const routing = value[key];
  if (!isRecord(routing)) throw bad(SimplePushErrorCode.BAD_MESSAGE, `${where}: routing must be an object`);
  return {
    sender: userValue(routing['sender'], `${where}.routing.sender`),
    receiver: userValue(routing['receiver'], `${where}.routing.receiver`),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

function bad(code: SimplePushErrorCode, message: string): SimplePushError {
  return new SimplePushError(code, message);
}
