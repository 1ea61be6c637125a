/**
 * Validation of one APNs provider-API request (`POST /3/device/<token>`), as a pure function so that the
 * compatible endpoint, the test peer and the tests all apply the same rules in the same order.
 * The rules and the reason chosen for each are listed in docs/apns.md.
 */
import { randomUUID } from 'node:crypto';
import { apnsError, type ApnsError, type ProviderTokenReason } from './reasons.js';

/** The `apns-push-type` values APNs accepts. */
export const APNS_PUSH_TYPES = [
  'alert',
  'background',
  'voip',
  'location',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
  'widgets',
  'controls',
] as const;

/** An `apns-push-type` value. */
export type ApnsPushType = (typeof APNS_PUSH_TYPES)[number];

/** The suffix `apns-topic` must carry for each push type ('' = the bare bundle id). */
export const APNS_TOPIC_SUFFIX: Readonly<Record<ApnsPushType, string>> = {
  alert: '',
  background: '',
  mdm: '',
  voip: '.voip',
  complication: '.complication',
  fileprovider: '.pushkit.fileprovider',
  liveactivity: '.push-type.liveactivity',
  location: '.location-query',
  pushtotalk: '.voip-ptt',
  widgets: '.push-type.widgets',
  controls: '.push-type.controls',
};

/** Largest payload in bytes: 5120 for VoIP, 4096 for everything else. */
export function maxPayloadBytes(pushType: ApnsPushType): number {
  return pushType === 'voip' ? 5120 : 4096;
}

/** The `apns-priority` values APNs accepts. */
export type ApnsPriority = 1 | 5 | 10;

/** The outcome of checking the `authorization` header (see `ProviderTokenVerifier.verify`). */
export type ProviderAuth =
  | { readonly ok: true; readonly teamId: string; readonly keyId: string }
  | { readonly ok: false; readonly reason: ProviderTokenReason };

/** What {@link validateApnsRequest} needs from one HTTP/2 request. */
export interface ApnsRequestInput {
  /** The `:method` pseudo-header. */
  readonly method: string;
  /** The `:path` pseudo-header, as received. */
  readonly path: string;
  /**
   * Headers as Node's flat `rawHeaders` list `[name, value, name, value, …]` — raw so that a header sent
   * twice is seen (Node's parsed header object joins duplicates).
   */
  readonly rawHeaders: readonly string[];
  /** The request body, exactly as received. */
  readonly body: Uint8Array;
  /** The provider-token check for this request's `authorization` header. */
  readonly auth: ProviderAuth;
}

/** A request that passed every rule. */
export interface ApnsParsedRequest {
  /** The device token from the path, lower-cased hex. */
  readonly deviceToken: string;
  readonly pushType: ApnsPushType;
  /** `apns-topic`, as sent (suffix included). */
  readonly topic: string;
  /** `apns-id` as sent, or a generated lower-case UUID when absent. */
  readonly apnsId: string;
  /** Whether `apnsId` was generated here rather than sent by the provider. */
  readonly apnsIdGenerated: boolean;
  /**
   * `apns-expiration` in UNIX seconds. `0` = deliver once, don't store; `undefined` = header absent, the
   * service's own storage policy applies. The two are deliberately distinct.
   */
  readonly expiration: number | undefined;
  readonly priority: ApnsPriority;
  readonly collapseId: string | undefined;
  /** The team and key of the provider token that authorised the request. */
  readonly teamId: string;
  readonly keyId: string;
  /** The body, byte for byte (the same object that was passed in). */
  readonly payload: Uint8Array;
  /** The body parsed as JSON (always an object). */
  readonly json: Record<string, unknown>;
}

/** The result of {@link validateApnsRequest}. */
export type ApnsValidationResult =
  | { readonly ok: true; readonly request: ApnsParsedRequest }
  | { readonly ok: false; readonly error: ApnsError; readonly apnsId: string };

/** Options of {@link validateApnsRequest}. */
export interface ValidateOptions {
  /** Source of `apns-id` values for requests without one; defaults to `crypto.randomUUID`. */
  readonly generateId?: () => string;
}

const DEVICE_PATH_PREFIX = '/3/device/';
const HEX = /^[0-9a-fA-F]+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Bundle ids are alphanumerics, '-' and '.', and topics only add dotted suffixes of the same alphabet.
const TOPIC = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
const DIGITS = /^[0-9]+$/;
/** Headers whose repetition is DuplicateHeaders. Pseudo-headers are policed by HTTP/2 itself. */
const SINGLE_HEADERS = new Set([
  'authorization',
  'apns-push-type',
  'apns-topic',
  'apns-id',
  'apns-expiration',
  'apns-priority',
  'apns-collapse-id',
]);

/**
 * Check one APNs request against every rule of the provider API, in this order: path (BadPath,
 * MissingDeviceToken), method (MethodNotAllowed), DuplicateHeaders, `apns-id` (BadMessageId), the provider
 * token (the 403s and 429 TooManyProviderTokenUpdates, taken from `input.auth`), device token
 * (BadDeviceToken), push type (InvalidPushType), topic (MissingTopic, BadTopic), expiration, priority,
 * collapse id, and the payload (PayloadEmpty, PayloadTooLarge).
 *
 * Pure apart from generating an `apns-id` when none was sent. The returned error carries the `apns-id` to
 * answer with (the one sent when it was well formed, else a generated one).
 * Topic ownership (DeviceTokenNotForTopic, TopicDisallowed) needs the registry: see {@link checkTokenTopic}.
 */
export function validateApnsRequest(
  input: ApnsRequestInput,
  options: ValidateOptions = {},
): ApnsValidationResult {
  const { headers, duplicate } = readHeaders(input.rawHeaders);
  // The id is settled first so that every error, whatever its cause, echoes a usable apns-id.
  const sentId = headers.get('apns-id');
  const idValid = sentId !== undefined && UUID.test(sentId);
  const apnsId = idValid ? sentId : (options.generateId ?? randomUUID)();
  const fail = (reason: ApnsReason): ApnsValidationResult => ({
    ok: false,
    error: apnsError(reason),
    apnsId,
  });

  const target = checkTarget(input, duplicate, sentId !== undefined && !idValid);
  if (typeof target === 'string') return fail(target);
  const { auth } = input;
  if (!auth.ok) return fail(auth.reason);
  // Any even-length hex string is accepted: Apple warns that token lengths change.
  if (!HEX.test(target.rawToken) || target.rawToken.length % 2 !== 0) return fail('BadDeviceToken');

  const topic = headers.get('apns-topic');
  const pushType = pushTypeOf(headers.get('apns-push-type'), topic);
  if (pushType === 'InvalidPushType') return fail(pushType);
  if (topic === undefined || topic === '') return fail('MissingTopic');
  if (!TOPIC.test(topic) || !topicMatchesPushType(topic, pushType)) return fail('BadTopic');
  const timing = checkTiming(headers, pushType);
  if (typeof timing === 'string') return fail(timing);
  const collapseId = headers.get('apns-collapse-id');
  if (collapseId !== undefined && Buffer.byteLength(collapseId, 'utf8') > 64) return fail('BadCollapseId');
  const json = checkPayload(input.body, pushType);
  if (typeof json === 'string') return fail(json);

  return {
    ok: true,
    request: {
      deviceToken: target.rawToken.toLowerCase(),
      pushType,
      topic,
      apnsId,
      apnsIdGenerated: !idValid,
      ...timing,
      collapseId,
      teamId: auth.teamId,
      keyId: auth.keyId,
      payload: input.body,
      json,
    },
  };
}

/** A reason of {@link apnsError}. */
type ApnsReason = Parameters<typeof apnsError>[0];

/** The headers by lower-case name (the first of repeated ones), and whether a single-valued one repeated. */
function readHeaders(rawHeaders: readonly string[]): { headers: Map<string, string>; duplicate: boolean } {
  const headers = new Map<string, string>();
  let duplicate = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    if (headers.has(name) && SINGLE_HEADERS.has(name)) duplicate = true;
    if (!headers.has(name)) headers.set(name, value);
  }
  return { headers, duplicate };
}

/** Path, method, duplicate headers and `apns-id`, in APNs's order; the device token as sent. */
function checkTarget(
  input: ApnsRequestInput,
  duplicate: boolean,
  badId: boolean,
): ApnsReason | { rawToken: string } {
  // A query string is not part of the API, so the path is compared whole.
  if (!input.path.startsWith(DEVICE_PATH_PREFIX)) {
    return input.path === '/3/device' ? 'MissingDeviceToken' : 'BadPath';
  }
  const rawToken = input.path.slice(DEVICE_PATH_PREFIX.length);
  if (rawToken.includes('/') || rawToken.includes('?')) return 'BadPath';
  if (input.method.toUpperCase() !== 'POST') return 'MethodNotAllowed';
  if (rawToken === '') return 'MissingDeviceToken';
  if (duplicate) return 'DuplicateHeaders';
  if (badId) return 'BadMessageId';
  return { rawToken };
}

/** The push type sent, or the one the topic implies when none was. */
function pushTypeOf(header: string | undefined, topic: string | undefined): ApnsPushType | 'InvalidPushType' {
  // APNs still accepts requests without the header; infer it from the topic suffix as the service does
  // for legacy VoIP/complication senders, else treat it as an alert.
  if (header === undefined) return topic === undefined ? 'alert' : inferPushType(topic);
  return isPushType(header) ? header : 'InvalidPushType';
}

/** `apns-expiration` and `apns-priority`, with the rules each push type adds. */
function checkTiming(
  headers: ReadonlyMap<string, string>,
  pushType: ApnsPushType,
): ApnsReason | { expiration: number | undefined; priority: ApnsPriority } {
  const expirationHeader = headers.get('apns-expiration');
  let expiration: number | undefined;
  if (expirationHeader !== undefined) {
    if (!DIGITS.test(expirationHeader)) return 'BadExpirationDate';
    expiration = Number(expirationHeader);
    if (!Number.isSafeInteger(expiration)) return 'BadExpirationDate';
  }
  const priorityHeader = headers.get('apns-priority');
  // Absent means 10, except for background pushes where 10 is not allowed: those default to 5.
  let priority: ApnsPriority = pushType === 'background' ? 5 : 10;
  if (priorityHeader !== undefined) {
    if (priorityHeader === '10') priority = 10;
    else if (priorityHeader === '5') priority = 5;
    else if (priorityHeader === '1') priority = 1;
    else return 'BadPriority';
  }
  if (pushType === 'background' && priority !== 5) return 'BadPriority';
  if (pushType === 'pushtotalk') {
    if (priority !== 10) return 'BadPriority';
    // Push-to-talk must not be stored: an explicit 0 is required, absent (store per policy) is rejected.
    if (expiration !== 0) return 'BadExpirationDate';
  }
  return { expiration, priority };
}

/** The payload as a JSON object, or why not. */
function checkPayload(body: Uint8Array, pushType: ApnsPushType): ApnsReason | Record<string, unknown> {
  if (body.byteLength === 0) return 'PayloadEmpty';
  if (body.byteLength > maxPayloadBytes(pushType)) return 'PayloadTooLarge';
  // APNs documents no reason for a body that is not a JSON object; such a body carries no usable
  // payload, so it is answered as PayloadEmpty (a documented reason keeps clients' handling working).
  return parseJsonObject(body) ?? 'PayloadEmpty';
}

/** Whether `value` is a known push type. */
export function isPushType(value: string): value is ApnsPushType {
  return (APNS_PUSH_TYPES as readonly string[]).includes(value);
}

/**
 * The push type a topic's suffix implies (the longest matching suffix wins), or `alert` for a bare bundle
 * id.
 */
export function inferPushType(topic: string): ApnsPushType {
  let best: ApnsPushType = 'alert';
  let bestLength = 0;
  for (const type of APNS_PUSH_TYPES) {
    const suffix = APNS_TOPIC_SUFFIX[type];
    if (suffix.length > bestLength && topic.endsWith(suffix) && topic.length > suffix.length) {
      best = type;
      bestLength = suffix.length;
    }
  }
  return best;
}

/**
 * Whether `topic` carries the suffix `pushType` requires — and, for the suffix-less types, no suffix that
 * belongs to another type (an alert sent to `com.example.voip` is a misrouted VoIP push).
 */
export function topicMatchesPushType(topic: string, pushType: ApnsPushType): boolean {
  const suffix = APNS_TOPIC_SUFFIX[pushType];
  if (suffix === '') return inferPushType(topic) === 'alert';
  return topic.length > suffix.length && topic.endsWith(suffix);
}

/** The bundle id under a topic: the topic without the suffix of `pushType`. */
export function bundleIdOf(topic: string, pushType: ApnsPushType): string {
  const suffix = APNS_TOPIC_SUFFIX[pushType];
  return suffix !== '' && topic.endsWith(suffix) ? topic.slice(0, -suffix.length) : topic;
}

/**
 * For the router: a device token is registered for one app (bundle id). A request whose topic's bundle id
 * is another app's gets DeviceTokenNotForTopic. Returns `undefined` when the token belongs to the topic.
 */
export function checkTokenTopic(
  registeredBundleId: string,
  request: Pick<ApnsParsedRequest, 'topic' | 'pushType'>,
): ApnsError | undefined {
  return bundleIdOf(request.topic, request.pushType) === registeredBundleId
    ? undefined
    : apnsError('DeviceTokenNotForTopic');
}

function parseJsonObject(body: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
