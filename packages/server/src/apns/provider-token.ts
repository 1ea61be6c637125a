/**
 * The sending side of token auth: signs and caches the provider token for one (team, key), refreshing it
 * inside the window APNs allows — not more often than every 20 minutes (else 429
 * TooManyProviderTokenUpdates) and not later than 60 (else 403 ExpiredProviderToken).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Clock } from '@localpush/protocol';
import { PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS } from './token-verifier.js';

/** Credentials for token auth: a .p8 signing key with its ids. */
export interface ApnsCredentials {
  /** The 10-character team id (`iss`). */
  readonly teamId: string;
  /** The 10-character key id (`kid`). */
  readonly keyId: string;
  /** PEM of the .p8 private key (PKCS#8, P-256). */
  readonly privateKey: string;
}

/** Options of {@link ProviderTokenSigner}. */
export interface ProviderTokenSignerOptions {
  readonly clock: Pick<Clock, 'now'>;
  /** Age after which a fresh token is signed. Default 50 minutes: inside the hour, with margin. */
  readonly refreshAfterMs?: number;
  /** Minimum age before a token may be replaced. Default 20 minutes (APNs's rule). */
  readonly minIntervalMs?: number;
}

/** Default age after which {@link ProviderTokenSigner} signs a new token: 50 minutes. */
export const DEFAULT_TOKEN_REFRESH_MS = 50 * 60 * 1000;

/** Signs and caches the provider token of one credential. */
export class ProviderTokenSigner {
  private readonly key: KeyObject;
  private readonly refreshAfterMs: number;
  private readonly minIntervalMs: number;
  private current: { token: Promise<string>; issuedAt: number } | undefined;

  constructor(
    readonly credentials: ApnsCredentials,
    private readonly options: ProviderTokenSignerOptions,
  ) {
    this.key = createPrivateKey(credentials.privateKey);
    this.refreshAfterMs = options.refreshAfterMs ?? DEFAULT_TOKEN_REFRESH_MS;
    this.minIntervalMs = options.minIntervalMs ?? PROVIDER_TOKEN_MIN_UPDATE_INTERVAL_MS;
    if (this.refreshAfterMs < this.minIntervalMs) {
      throw new RangeError('refreshAfterMs must not be shorter than the 20-minute minimum token interval');
    }
  }

  /** The current token, signing a new one when none exists or the current one reached `refreshAfterMs`. */
  token(): Promise<string> {
    const now = this.options.clock.now();
    if (this.current === undefined || now - this.current.issuedAt >= this.refreshAfterMs) {
      this.current = { token: this.sign(now), issuedAt: now };
    }
    return this.current.token;
  }

  /**
   * APNs answered ExpiredProviderToken for `rejected`. Sign a new token unless another request already
   * replaced it, or the current token is younger than the minimum interval (then a new one would only earn
   * TooManyProviderTokenUpdates: the clock is wrong, and the error must surface). Returns whether a new
   * token is now current, i.e. whether a retry can help.
   */
  async refreshAfterRejection(rejected: string): Promise<boolean> {
    const current = this.current;
    if (current === undefined) return true;
    if ((await current.token) !== rejected) return true;
    const now = this.options.clock.now();
    if (now - current.issuedAt < this.minIntervalMs) return false;
    this.current = { token: this.sign(now), issuedAt: now };
    return true;
  }

  private sign(nowMs: number): Promise<string> {
    const pending = new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.credentials.keyId })
      .setIssuer(this.credentials.teamId)
      .setIssuedAt(Math.floor(nowMs / 1000))
      .sign(this.key);
    // A failed signature must not stay cached forever.
    pending.catch(() => {
      if (this.current?.token === pending) this.current = undefined;
    });
    return pending;
  }
}
