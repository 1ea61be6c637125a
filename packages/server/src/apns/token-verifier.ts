/**
 * Verification of APNs provider tokens (ES256 JWTs) as APNs does it: the key is looked up by `kid` among
 * the configured .p8 keys, the signature checked with `jose`, `iss` must be the key's team, and a token is
 * usable for one hour from its `iat`. Also the per-connection rule on how often a token may change.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { Clock } from '@localpush/protocol';
import type { ProviderAuth } from './validate.js';

/** An APNs environment. */
export type ApnsEnvironment = 'production' | 'development';

/** One configured signing key (the contents of an AuthKey_<keyId>.p8, or just its public half). */
export interface ProviderKeyConfig {
  /** The 10-character team id the key belongs to. */
  readonly teamId: string;
  /** The 10-character key id (`kid`). */
  readonly keyId: string;
  /** PEM of the P-256 private key (.p8, PKCS#8) or of its public key (SPKI); the public key is derived. */
  readonly pem: string;
  /** Environments the key may be used in; both when absent (Apple's default for new keys). */
  readonly environments?: readonly ApnsEnvironment[];
}

/** Options of {@link ProviderTokenVerifier}. */
export interface ProviderTokenVerifierOptions {
  readonly keys: readonly ProviderKeyConfig[];
  /** The environment this endpoint serves, for BadEnvironmentKeyIdInToken. Default: 'development'. */
  readonly environment?: ApnsEnvironment;
  /** Source of the current time (token age). */
  readonly clock: Pick<Clock, 'now'>;
  /** How long a token is usable after its `iat`. Default: one hour, as APNs. */
  readonly maxAgeMs?: number;
  /** How far in the future an `iat` may lie (clock skew between provider and us). Default: 5 minutes. */
  readonly maxFutureSkewMs?: number;
  /** How many verified tokens to remember. Default 1024. */
  readonly cacheSize?: number;
}

interface VerifiedToken {
  readonly teamId: string;
  readonly keyId: string;
  readonly iatMs: number;
}

/** Default window a provider token is valid for: one hour. */
export const PROVIDER_TOKEN_MAX_AGE_MS = 60 * 60 * 1000;
/** APNs's minimum interval between token changes on one connection: twenty minutes. */
export const PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS = 20 * 60 * 1000;

/**
 * Checks `authorization: bearer <JWT>` headers. Signature checks are asynchronous and comparatively
 * expensive, and providers reuse one token for up to an hour, so verified tokens are cached (the age
 * check still runs on every use).
 */
export class ProviderTokenVerifier {
  private readonly keys = new Map<string, { config: ProviderKeyConfig; publicKey: KeyObject }>();
  private readonly cache = new Map<string, VerifiedToken>();
  private readonly environment: ApnsEnvironment;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly maxAgeMs: number;
  private readonly maxFutureSkewMs: number;
  private readonly cacheSize: number;

  constructor(options: ProviderTokenVerifierOptions) {
    for (const config of options.keys) {
      // createPublicKey accepts a private key PEM too and derives its public half.
      const publicKey = createPublicKey(config.pem);
      if (
        publicKey.asymmetricKeyType !== 'ec' ||
        publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
      ) {
        throw new TypeError(`APNs key ${config.keyId} is not a P-256 key`);
      }
      this.keys.set(config.keyId, { config, publicKey });
    }
    this.environment = options.environment ?? 'development';
    this.clock = options.clock;
    this.maxAgeMs = options.maxAgeMs ?? PROVIDER_TOKEN_MAX_AGE_MS;
    this.maxFutureSkewMs = options.maxFutureSkewMs ?? 5 * 60 * 1000;
    this.cacheSize = options.cacheSize ?? 1024;
  }

  /**
   * Verify an `authorization` header value. With `connection`, also apply the one-change-per-20-minutes
   * rule for that connection (TooManyProviderTokenUpdates).
   */
  async verify(
    authorization: string | undefined,
    connection?: ConnectionTokenTracker,
  ): Promise<ProviderAuth> {
    if (authorization === undefined || authorization.trim() === '') return fail('MissingProviderToken');
    const match = /^bearer\s+(\S+)$/i.exec(authorization.trim());
    if (match === null) return fail('InvalidProviderToken');
    const token = match[1] ?? '';

    let verified = this.cache.get(token);
    if (verified === undefined) {
      const result = await this.verifySignature(token);
      if (!result.ok) return result;
      verified = result.token;
      if (this.cache.size >= this.cacheSize) {
        // Maps iterate in insertion order: dropping the first entry drops the oldest.
        const oldest = this.cache.keys().next();
        if (oldest.done !== true) this.cache.delete(oldest.value);
      }
      this.cache.set(token, verified);
    }

    const now = this.clock.now();
    if (now - verified.iatMs > this.maxAgeMs) {
      this.cache.delete(token);
      return fail('ExpiredProviderToken');
    }
    if (verified.iatMs - now > this.maxFutureSkewMs) return fail('InvalidProviderToken');
    if (connection !== undefined && !connection.accept(token, now))
      return fail('TooManyProviderTokenUpdates');
    return { ok: true, teamId: verified.teamId, keyId: verified.keyId };
  }

  private async verifySignature(
    token: string,
  ): Promise<{ ok: true; token: VerifiedToken } | ProviderAuthFailure> {
    let kid: unknown;
    let alg: unknown;
    try {
      ({ kid, alg } = decodeProtectedHeader(token));
    } catch {
      return fail('InvalidProviderToken');
    }
    if (alg !== 'ES256' || typeof kid !== 'string') return fail('InvalidProviderToken');
    const key = this.keys.get(kid);
    if (key === undefined) return fail('InvalidProviderToken');
    let payload: Record<string, unknown>;
    try {
      // No exp/nbf in APNs tokens; jose's own time checks are moot, the iat window is checked by the caller.
      ({ payload } = await jwtVerify(token, key.publicKey, { algorithms: ['ES256'] }));
    } catch {
      return fail('InvalidProviderToken');
    }
    const { iss, iat } = payload;
    if (typeof iss !== 'string' || typeof iat !== 'number' || !Number.isFinite(iat)) {
      return fail('InvalidProviderToken');
    }
    // A genuine signature by a key of another team than the one the token claims to be.
    if (iss !== key.config.teamId) return fail('UnrelatedKeyIdInToken');
    const environments = key.config.environments;
    if (environments !== undefined && !environments.includes(this.environment)) {
      return fail('BadEnvironmentKeyIdInToken');
    }
    return { ok: true, token: { teamId: iss, keyId: kid, iatMs: iat * 1000 } };
  }
}

type ProviderAuthFailure = Extract<ProviderAuth, { ok: false }>;

function fail(reason: ProviderAuthFailure['reason']): ProviderAuthFailure {
  return { ok: false, reason };
}

/**
 * The token state of one connection. APNs lets a connection switch to a new provider token, but a second
 * switch within 20 minutes of the previous one is answered 429 TooManyProviderTokenUpdates (the first
 * token on a connection is not a switch).
 */
export class ConnectionTokenTracker {
  private current: string | undefined;
  private lastSwitchAt: number | undefined;

  constructor(private readonly minIntervalMs: number = PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS) {}

  /** Record `token` as used at `now`; false when switching to it now breaks the rule. */
  accept(token: string, now: number): boolean {
    if (this.current === undefined) {
      this.current = token;
      return true;
    }
    if (token === this.current) return true;
    if (this.lastSwitchAt !== undefined && now - this.lastSwitchAt < this.minIntervalMs) return false;
    this.current = token;
    this.lastSwitchAt = now;
    return true;
  }
}
