/**
 * The messages of the localpush protocol, version 1. The normative text is docs/protocol.md; the rule
 * numbers in brackets point into it.
 */
import type { ProtocolErrorCode } from './errors.js';

/** The protocol version this package speaks. [LP-1.2] */
export const PROTOCOL_VERSION = 1;

/** Versions a server built from this package accepts in a hello. [LP-4.3] */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** Bytes in the length prefix of a stream frame. [LP-2.1] */
export const FRAME_HEADER_BYTES = 4;

/** Default largest frame payload, in bytes. A push payload must leave room for the envelope. [LP-2.3] */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/**
 * The default heartbeat timing [LP-5.1, LP-5.3]: the server's defaults, and what a client assumes until
 * a welcome tells it the real values. The one place these figures are written.
 */
export const DEFAULT_HEARTBEAT = Object.freeze({ intervalMs: 20_000, graceMs: 10_000 });

/** The hard ceiling on any negotiated frame size (16 MiB), so a length prefix can never ask for more. */
export const ABSOLUTE_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** What a push is for; a device presents each kind differently. [LP-6.1] */
export const PUSH_KINDS = ['alert', 'call', 'message', 'push-to-talk'] as const;
export type PushKind = (typeof PUSH_KINDS)[number];

/** Delivery priority, with APNs's values: 10 now, 5 power-aware, 1 power first. [LP-6.2] */
export const PUSH_PRIORITIES = [10, 5, 1] as const;
export type PushPriority = (typeof PUSH_PRIORITIES)[number];

/** Why a server asks a client to go away. [LP-8.1] */
export const GOAWAY_REASONS = ['shutdown', 'replaced', 'redirect', 'maintenance'] as const;
export type GoawayReason = (typeof GOAWAY_REASONS)[number];

/** Notices the server sends about the device's queue. [LP-6.7] */
export const NOTICE_CODES = ['queue_overflow', 'expired'] as const;
export type NoticeCode = (typeof NOTICE_CODES)[number];

/** Which APNs environment issued a device token. [LP-6.9] */
export const APNS_ENVIRONMENTS = ['development', 'production'] as const;
export type ApnsEnvironment = (typeof APNS_ENVIRONMENTS)[number];

/**
 * The environment of a token registered without one, on every path (the SDK's `registerApnsToken` and the
 * server's `PUT /v1/devices/:id/apns-token`): production, which issues the tokens of App Store, TestFlight
 * and enterprise builds; only apps run from Xcode get sandbox (development) tokens.
 */
export const DEFAULT_APNS_ENVIRONMENT: ApnsEnvironment = 'production';

/**
 * Capabilities this version defines [LP-1.6]: `probe` (a server answers `probe` with `probe_reply`,
 * LP-10.2) and `diagnostic` (a session that measures without becoming the device's session, LP-10.3).
 */
export const CAPABILITIES = { probe: 'probe', diagnostic: 'diagnostic' } as const;

/** Any value JSON can carry. Push payloads are opaque JSON to the protocol. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where a resumed session picks up: everything with `seq <= lastSeq` was processed. [LP-4.5] */
export interface ResumeCursor {
  lastSeq: number;
}

/** Client → server, first message on every connection. [LP-4.1] */
export interface Hello {
  type: 'hello';
  version: number;
  deviceId: string;
  credential: string;
  resume?: ResumeCursor;
  capabilities: string[];
  /** Free text naming the client software, for logs. */
  agent?: string;
  /** The Wi-Fi the device is on, when its user allows telling (off by default in clients). [LP-10.4] */
  network?: HelloNetwork;
}

/** What a device may report about its network with the hello. Every field is optional. [LP-10.4] */
export interface HelloNetwork {
  ssid?: string;
  /** The access point's MAC, lower-case `aa:bb:cc:dd:ee:ff`. */
  bssid?: string;
  /** Signal strength in dBm, an integer from -150 to 0. */
  signalDbm?: number;
}

/** Server → client, the answer to an accepted hello. [LP-4.6] */
export interface Welcome {
  type: 'welcome';
  version: number;
  sessionId: string;
  heartbeatIntervalMs: number;
  heartbeatGraceMs: number;
  /** Server clock, milliseconds since the UNIX epoch. */
  serverTime: number;
  maxFrameBytes: number;
  capabilities: string[];
}

/** Server → client, every heartbeat interval. [LP-5.1] */
export interface Heartbeat {
  type: 'heartbeat';
  seq: number;
  serverTime: number;
}

/** Client → server, the answer to a heartbeat, carrying its seq. [LP-5.2] */
export interface HeartbeatAck {
  type: 'heartbeat_ack';
  seq: number;
}

/** Server → client, one message for the device. [LP-6.1] */
export interface Push {
  type: 'push';
  /** Unique message id; the same id is the same message (the client drops repeats). [LP-6.4] */
  id: string;
  /** Per-device sequence number, strictly increasing in the order the server accepted messages. [LP-6.3] */
  seq: number;
  kind: PushKind;
  payload: JsonValue;
  priority: PushPriority;
  /** UNIX seconds after which the message must not be shown; 0 = it was sent once, never stored. [LP-6.2] */
  expiration: number;
  collapseId?: string;
}

/**
 * Client → server, acknowledging pushes: by id, and/or cumulatively through a sequence number.
 * At least one of the two is present. [LP-6.5]
 */
export interface Ack {
  type: 'ack';
  ids?: string[];
  through?: number;
}

/**
 * Client → server: the device's APNs token for one app, so that a push addressed to that token through
 * the server's APNs-compatible endpoint reaches this device locally. Sent again after every welcome. [LP-6.9]
 */
export interface ApnsToken {
  type: 'apns_token';
  /** The device token, hex (any case; the server keeps it lower-case). */
  token: string;
  /** The app's bundle id, or an APNs topic (a push-type suffix is ignored). */
  topic: string;
  environment: ApnsEnvironment;
}

/** Either direction: a stable code and a human text. A fatal error is followed by close. [LP-9.1] */
export interface ErrorMessage {
  type: 'error';
  code: ProtocolErrorCode;
  message: string;
}

/** Server → client: stop using this connection. [LP-8.1] */
export interface Goaway {
  type: 'goaway';
  reason: GoawayReason;
  message?: string;
  /** For `redirect`: where to connect instead, as a URL (`tls://host:port` or `wss://host:port/path`). */
  redirect?: string;
  /** A hint: wait at least this long before reconnecting. */
  reconnectAfterMs?: number;
}

/** Server → client: something happened to the device's queue that the application should know. [LP-6.7] */
export interface Notice {
  type: 'notice';
  code: NoticeCode;
  /** How many messages the notice is about. */
  count: number;
  message: string;
}

/**
 * Client → server, after both sides listed `probe`: answer me at once. Measures the round trip through
 * the server's connection path; never stored, no seq, not acknowledged. [LP-10.2]
 */
export interface Probe {
  type: 'probe';
  id: string;
  /** Filler to give the probe (and its reply) the size of a real push. */
  pad?: string;
}

/** Server → client, the answer to a probe: the same id and pad. [LP-10.2] */
export interface ProbeReply {
  type: 'probe_reply';
  id: string;
  /** Server clock when it answered, milliseconds since the UNIX epoch. */
  serverTime: number;
  pad?: string;
}

export type ClientMessage = Hello | HeartbeatAck | Ack | ApnsToken | Probe | ErrorMessage;
export type ServerMessage = Welcome | Heartbeat | Push | ProbeReply | ErrorMessage | Goaway | Notice;
export type Message = ClientMessage | ServerMessage;
export type MessageType = Message['type'];

/** Every message type of this version, and which side may send it. [LP-3.1] */
export const MESSAGE_SENDERS = {
  hello: 'client',
  welcome: 'server',
  heartbeat: 'server',
  heartbeat_ack: 'client',
  push: 'server',
  ack: 'client',
  apns_token: 'client',
  error: 'both',
  goaway: 'server',
  notice: 'server',
  probe: 'client',
  probe_reply: 'server',
} as const satisfies Record<MessageType, 'client' | 'server' | 'both'>;

/** Limits on field sizes, so that a hostile peer cannot make the other side keep large strings. [LP-3.3] */
export const LIMITS = {
  deviceIdMaxLength: 128,
  credentialMaxLength: 512,
  messageIdMaxLength: 128,
  collapseIdMaxLength: 64,
  capabilityMaxCount: 32,
  capabilityMaxLength: 64,
  ackIdsMaxCount: 1024,
  textMaxLength: 1024,
  probeIdMaxLength: 64,
  probePadMaxLength: 4096,
  ssidMaxLength: 64,
} as const;

/** APNs device tokens: an even number (2–400) of hex digits; APNs says not to assume a length. [LP-6.9] */
export const APNS_TOKEN_PATTERN = /^(?:[0-9A-Fa-f]{2}){1,200}$/;

/** APNs topics: a bundle id of at most 255 characters, optionally with a push-type suffix. [LP-6.9] */
export const APNS_TOPIC_PATTERN = /^(?=.{1,255}$)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

/** Device ids: 1–128 characters of letters, digits, `.`, `_`, `-`, `:` and `@`. [LP-4.4] */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** BSSIDs in a hello's network report: a MAC address, six pairs of hex digits with colons. [LP-10.4] */
export const BSSID_PATTERN = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

/** Message ids: 1–128 printable ASCII characters without spaces. [LP-6.4] */
export const MESSAGE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
