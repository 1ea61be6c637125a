/**
 * Errors of the SDK layer, mirroring NEAppPushErrorDomain. Each error carries Apple's numeric code (so code
 * ported from Swift can branch on the same numbers) and a stable string code that logs and other languages
 * can match on without a lookup table.
 */
import { CodedError } from '@localpush/protocol';

/** NEAppPushErrorDomain raw values. */
export const AppPushErrorCode = {
  configurationInvalid: 1,
  configurationNotLoaded: 2,
  internalError: 3,
  inactiveSession: 4,
} as const;

/** One of the {@link AppPushErrorCode} values. */
export type AppPushErrorCode = (typeof AppPushErrorCode)[keyof typeof AppPushErrorCode];

/** The error domain, as Apple names it, kept for messages and serialisation. */
export const APP_PUSH_ERROR_DOMAIN = 'NEAppPushErrorDomain';

/** Stable string codes, one per numeric code; never reused for another meaning. */
export const AppPushErrorStringCode = {
  1: 'LP_APPPUSH_CONFIGURATION_INVALID',
  2: 'LP_APPPUSH_CONFIGURATION_NOT_LOADED',
  3: 'LP_APPPUSH_INTERNAL_ERROR',
  4: 'LP_APPPUSH_INACTIVE_SESSION',
} as const satisfies Record<AppPushErrorCode, string>;

/** One of the {@link AppPushErrorStringCode} values. */
export type AppPushErrorStringCode = (typeof AppPushErrorStringCode)[AppPushErrorCode];

/** An error of the NEAppPushErrorDomain. */
export class AppPushError extends CodedError<AppPushErrorStringCode> {
  override readonly name = 'AppPushError';
  /** Always {@link APP_PUSH_ERROR_DOMAIN}. */
  readonly domain = APP_PUSH_ERROR_DOMAIN;
  /** Apple's numeric code. (`code` is the stable string code, e.g. `LP_APPPUSH_CONFIGURATION_INVALID`.) */
  readonly errno: AppPushErrorCode;

  constructor(errno: AppPushErrorCode, message: string, options?: { cause?: unknown }) {
    super(AppPushErrorStringCode[errno], message, options);
    this.errno = errno;
  }
}

/** True when `err` is an {@link AppPushError}, optionally of one code. */
export function isAppPushError(err: unknown, errno?: AppPushErrorCode): err is AppPushError {
  return err instanceof AppPushError && (errno === undefined || err.errno === errno);
}

/**
 * Stable codes of what the {@link ProviderHost} itself reports about a provider, beside Apple's domain
 * (which has no such errors: on iOS the system just kills the extension). Listed in docs/errors.md.
 */
export const ProviderHostErrorCode = {
  /** start() did not complete within the host's startTimeoutMs; the instance was ended, as for a crash. */
  START_TIMEOUT: 'LP_PROVIDER_START_TIMEOUT',
  /** stop() did not complete within stopTimeoutMs; the worker was terminated (in-process: dropped). */
  STOP_TIMEOUT: 'LP_PROVIDER_STOP_TIMEOUT',
} as const;

/** One of the {@link ProviderHostErrorCode} values. */
export type ProviderHostErrorCode = (typeof ProviderHostErrorCode)[keyof typeof ProviderHostErrorCode];

/** A failure of a provider as the host saw it, with a stable code (the `crashed` event's error for a start timeout). */
export class ProviderHostError extends CodedError<ProviderHostErrorCode> {
  override readonly name = 'ProviderHostError';

  constructor(code: ProviderHostErrorCode, message: string) {
    super(code, message);
  }
}
