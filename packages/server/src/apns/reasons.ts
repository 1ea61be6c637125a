/**
 * The APNs provider API's error reasons and their HTTP statuses, exactly as Apple documents them
 * (docs/apns.md, "Error table"). The compatible endpoint answers with these, and the fallback client reads
 * them back, so both sides share this one table.
 */

/** Every documented APNs error reason → the HTTP status APNs sends it with. */
export const APNS_REASON_STATUS = {
  BadCollapseId: 400,
  BadDeviceToken: 400,
  BadExpirationDate: 400,
  BadMessageId: 400,
  BadPriority: 400,
  BadTopic: 400,
  DeviceTokenNotForTopic: 400,
  DuplicateHeaders: 400,
  IdleTimeout: 400,
  InvalidPushType: 400,
  MissingDeviceToken: 400,
  MissingTopic: 400,
  PayloadEmpty: 400,
  TopicDisallowed: 400,
  BadCertificate: 403,
  BadCertificateEnvironment: 403,
  ExpiredProviderToken: 403,
  Forbidden: 403,
  InvalidProviderToken: 403,
  MissingProviderToken: 403,
  UnrelatedKeyIdInToken: 403,
  BadEnvironmentKeyIdInToken: 403,
  BadPath: 404,
  MethodNotAllowed: 405,
  ExpiredToken: 410,
  Unregistered: 410,
  PayloadTooLarge: 413,
  TooManyProviderTokenUpdates: 429,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
  Shutdown: 503,
} as const;

/** A documented APNs error reason. */
export type ApnsReason = keyof typeof APNS_REASON_STATUS;

/** The HTTP status of an APNs error. */
export type ApnsErrorStatus = (typeof APNS_REASON_STATUS)[ApnsReason];

/** The reasons a provider-token check can fail with (see `ProviderTokenVerifier`). */
export type ProviderTokenReason =
  | 'MissingProviderToken'
  | 'InvalidProviderToken'
  | 'ExpiredProviderToken'
  | 'UnrelatedKeyIdInToken'
  | 'BadEnvironmentKeyIdInToken'
  | 'TooManyProviderTokenUpdates';

/**
 * Reasons that must never be retried: the request itself, or the token, is wrong and will stay wrong.
 * Apple names these explicitly; every other 4xx is treated the same way by the client.
 */
export const NEVER_RETRY_REASONS: ReadonlySet<string> = new Set<ApnsReason>([
  'BadDeviceToken',
  'DeviceTokenNotForTopic',
  'Forbidden',
  'ExpiredToken',
  'Unregistered',
  'PayloadTooLarge',
]);

/** Whether `reason` is one of the documented APNs reasons. */
export function isApnsReason(reason: unknown): reason is ApnsReason {
  return typeof reason === 'string' && Object.prototype.hasOwnProperty.call(APNS_REASON_STATUS, reason);
}

/** An APNs error as the endpoint sends it: status, `apns-id` header and the JSON body's reason. */
export interface ApnsError {
  readonly status: ApnsErrorStatus;
  readonly reason: ApnsReason;
}

/** Build an {@link ApnsError} with the status the table assigns to `reason`. */
export function apnsError(reason: ApnsReason): ApnsError {
  return { status: APNS_REASON_STATUS[reason], reason };
}
