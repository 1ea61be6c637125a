/**
 * The fallback client: sends notifications to APNs (or anything that speaks its provider API) over
 * node:http2, passing headers and payload bytes through untouched and reporting status, reason, apns-id and
 * timestamp exactly as received. It keeps one long-lived session per (environment, team, key), replaces a
 * session that got GOAWAY, retries only what is safe to retry, and runs every timer on an injected clock.
 */
import {
  connect as http2Connect,
  constants,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
} from 'node:http2';
import { randomUUID } from 'node:crypto';
import { CodedError, backoffDelay, systemClock, type Clock, type TimerHandle } from '@localpush/protocol';
import { NEVER_RETRY_REASONS } from './reasons.js';
import type { ApnsPriority, ApnsPushType } from './validate.js';
import type { ApnsEnvironment } from './token-verifier.js';
import { ProviderTokenSigner, type ApnsCredentials } from './provider-token.js';
import { connectThroughProxy } from './proxy.js';

/** The default APNs origins. Only configuration defaults: tests always pass their own. */
export const APNS_DEFAULT_ENDPOINTS: Readonly<Record<ApnsEnvironment, string>> = {
  production: 'https://api.push.apple.com:443',
  development: 'https://api.sandbox.push.apple.com:443',
};

/** One notification to send. Everything is passed through as given. */
export interface ApnsNotification {
  /** Hex device token. */
  readonly deviceToken: string;
  readonly topic: string;
  readonly pushType: ApnsPushType;
  /** Sent as `apns-id`; a UUID is generated when absent so that retries carry the same id. */
  readonly apnsId?: string | undefined;
  /** `apns-expiration`; `0` and `undefined` (header omitted) mean different things to APNs. */
  readonly expiration?: number | undefined;
  /** `apns-priority`; omitted when undefined (APNs then applies its default). */
  readonly priority?: ApnsPriority | undefined;
  readonly collapseId?: string | undefined;
  /** The JSON payload, sent byte for byte. */
  readonly payload: Uint8Array;
}

/** Which pool a notification goes through. Unset fields are filled when the choice is unambiguous. */
export interface ApnsRoute {
  readonly environment?: ApnsEnvironment;
  readonly teamId?: string;
  readonly keyId?: string;
}

/** APNs's answer. */
export interface ApnsSendResult {
  /** HTTP status: 200 on success. */
  readonly status: number;
  /** The `apns-id` APNs answered with. */
  readonly apnsId: string | undefined;
  /** The error reason from the JSON body. */
  readonly reason?: string;
  /** For 410: when APNs learnt the token was no longer valid (ms since epoch). */
  readonly timestamp?: number;
  /** `apns-unique-id` (development environment only). */
  readonly uniqueId?: string;
  /** How many requests reached APNs for this notification (retries included). */
  readonly attempts: number;
}

/** Why {@link ApnsClient.send} threw instead of returning an APNs answer. */
export const ApnsClientErrorCode = {
  /** No connection could be made (nothing was sent). */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** The stream failed after the request went out: APNs may or may not have accepted it. */
  STREAM_FAILED: 'STREAM_FAILED',
  /** No response within `requestTimeoutMs`: APNs may or may not have accepted it. */
  TIMEOUT: 'TIMEOUT',
  /** Sessions kept refusing the request (GOAWAY/REFUSED_STREAM) more often than allowed. */
  REFUSED: 'REFUSED',
  /** The client was closed. */
  CLOSED: 'CLOSED',
} as const;
export type ApnsClientErrorCode = (typeof ApnsClientErrorCode)[keyof typeof ApnsClientErrorCode];

/** A transport failure of {@link ApnsClient.send}; `maybeDelivered` says whether a duplicate is possible. */
export class ApnsClientError extends CodedError<ApnsClientErrorCode> {
  override readonly name = 'ApnsClientError';
  constructor(
    code: ApnsClientErrorCode,
    message: string,
    readonly maybeDelivered: boolean,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Options of {@link ApnsClient}. */
export interface ApnsClientOptions {
  /** One or more signing keys; each (environment, team, key) gets its own session. */
  readonly credentials: ApnsCredentials | readonly ApnsCredentials[];
  /** Default environment of {@link ApnsClient.send}. Default: 'production'. */
  readonly environment?: ApnsEnvironment;
  /** Origins per environment (`https://host:port`); default {@link APNS_DEFAULT_ENDPOINTS}. */
  readonly endpoints?: Partial<Record<ApnsEnvironment, string>>;
  readonly clock?: Clock;
  /** Extra TLS trust (the test peer's self-signed certificate). */
  readonly ca?: string | Buffer;
  readonly rejectUnauthorized?: boolean;
  /** `http://[user:pass@]host:port`: reach APNs through an HTTP CONNECT proxy. */
  readonly proxy?: string;
  /** Token age after which a new one is signed. Default 50 min; at least the 20-minute minimum. */
  readonly tokenRefreshMs?: number;
  /** Idle time after which a session is PINGed. Default 1 h; 0 disables. */
  readonly pingIdleMs?: number;
  /** A PING unanswered this long drops the session. Default 10 s. */
  readonly pingTimeoutMs?: number;
  /** Attempts per notification for 429, 5xx and connection failures. Default 3. */
  readonly maxAttempts?: number;
  /** Back-off before retry n: full jitter over min(max, base·2^(n-1)) (protocol's backoffDelay). Default 1 s / 30 s. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Random source for the jitter, in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Immediate re-sends of requests a session refused unprocessed. Default 3. */
  readonly maxRefusedRetries?: number;
  /** Time for one request to be answered. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Time to establish a session (TCP, proxy, TLS, SETTINGS). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Told when a session receives GOAWAY (for logs and metrics); `reason` is the JSON reason if any. */
  readonly onGoaway?: (event: ApnsGoawayEvent) => void;
}

/** A GOAWAY received from APNs. */
export interface ApnsGoawayEvent {
  readonly origin: string;
  /** HTTP/2 error code of the GOAWAY frame (0 = NO_ERROR). */
  readonly code: number;
  /** Streams above this id were not processed and are re-sent on a new session. */
  readonly lastStreamId: number;
  /** The `reason` of the JSON debug data (e.g. `Shutdown`), or the raw text. */
  readonly reason: string | undefined;
}

interface SessionEntry {
  readonly session: ClientHttp2Session;
  /** Set by GOAWAY: streams above it were not processed; the session takes no new streams. */
  goawayLastStreamId: number | undefined;
  active: number;
  idleTimer: TimerHandle | undefined;
}

interface Pool {
  current: SessionEntry | undefined;
  connecting: Promise<SessionEntry> | undefined;
  readonly all: Set<SessionEntry>;
}

type Attempt =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: Buffer }
  | { kind: 'refused' }
  | { kind: 'failed'; error: ApnsClientError };

const HEX = /^[0-9a-fA-F]+$/;

/**
 * Sends notifications to APNs. Retry rules: 200 and every 4xx other than 429 are final (never retried:
 * BadDeviceToken, DeviceTokenNotForTopic, Forbidden, ExpiredToken, Unregistered, PayloadTooLarge, …);
 * ExpiredProviderToken re-signs the token once and retries; 429 and 5xx are retried with capped
 * exponential back-off up to `maxAttempts`; a request a session refused unprocessed (GOAWAY above its
 * stream id, REFUSED_STREAM, never sent) is re-sent at once on a new session; a failure after the request
 * went out is thrown, not retried, since APNs may have accepted it.
 */
export class ApnsClient {
  private readonly clock: Clock;
  private readonly signers: ProviderTokenSigner[];
  private readonly pools = new Map<string, Pool>();
  private readonly environment: ApnsEnvironment;
  private readonly endpoints: Record<ApnsEnvironment, string>;
  private closed = false;

  constructor(private readonly options: ApnsClientOptions) {
    this.clock = options.clock ?? systemClock;
    const list: readonly ApnsCredentials[] = Array.isArray(options.credentials)
      ? (options.credentials as readonly ApnsCredentials[])
      : [options.credentials as ApnsCredentials];
    if (list.length === 0) throw new TypeError('ApnsClient needs at least one signing key');
    this.signers = list.map(
      (c) =>
        new ProviderTokenSigner(c, {
          clock: this.clock,
          ...(options.tokenRefreshMs !== undefined ? { refreshAfterMs: options.tokenRefreshMs } : {}),
        }),
    );
    this.environment = options.environment ?? 'production';
    this.endpoints = { ...APNS_DEFAULT_ENDPOINTS, ...options.endpoints };
  }

  /**
   * Send one notification and return APNs's final answer (after the retries described on the class).
   * Throws {@link ApnsClientError} on transport failures; `maybeDelivered` tells whether APNs might have
   * accepted the request anyway.
   */
  async send(notification: ApnsNotification, route: ApnsRoute = {}): Promise<ApnsSendResult> {
    if (!HEX.test(notification.deviceToken)) throw new TypeError('deviceToken must be hex');
    const environment = route.environment ?? this.environment;
    const signer = this.pickSigner(route);
    const poolKey = `${environment}|${signer.credentials.teamId}|${signer.credentials.keyId}`;
    const origin = this.endpoints[environment];
    const apnsId = notification.apnsId ?? randomUUID();
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? 3);
    const maxRefused = this.options.maxRefusedRetries ?? 3;

    let answered = 0; // requests APNs answered: reported as `attempts`
    let tries = 0; // what maxAttempts bounds: answers that may be retried, and failed connections
    let refused = 0;
    let tokenRefreshed = false;
    for (;;) {
      if (this.closed) throw new ApnsClientError('CLOSED', 'ApnsClient is closed', false);
      let entry: SessionEntry;
      try {
        entry = await this.session(poolKey, origin);
      } catch (error) {
        if (++tries >= maxAttempts) {
          const message = `Cannot connect to ${origin}: ${String(error)}`;
          throw new ApnsClientError('CONNECT_FAILED', message, false, { cause: error });
        }
        await this.delay(this.backoffMs(tries));
        continue;
      }
      const token = await signer.token();
      const headers = this.headers(notification, apnsId, token);
      const attempt = await this.attempt(entry, headers, notification.payload);
      if (attempt.kind === 'refused') {
        if (++refused > maxRefused) {
          throw new ApnsClientError('REFUSED', `${origin} refused the request ${refused} times`, false);
        }
        continue;
      }
      if (attempt.kind === 'failed') throw attempt.error;
      const result = parseResponse(attempt, ++answered);
      if (result.status === 200) return result;
      if (result.status === 403 && result.reason === 'ExpiredProviderToken' && !tokenRefreshed) {
        tokenRefreshed = true;
        // The token, not APNs, was at fault: retry at once, outside the back-off budget.
        if (await signer.refreshAfterRejection(token)) continue;
        return result;
      }
      if (isRetryable(result) && ++tries < maxAttempts) {
        await this.delay(this.backoffMs(tries));
        continue;
      }
      return result;
    }
  }

  /** Close every session gracefully (in-flight requests finish) and stop all timers. */
  async close(): Promise<void> {
    this.closed = true;
    const closing: Promise<void>[] = [];
    for (const pool of this.pools.values()) {
      for (const entry of pool.all) {
        this.stopIdleTimer(entry);
        if (!entry.session.closed && !entry.session.destroyed) {
          closing.push(new Promise((resolve) => entry.session.close(resolve)));
        }
      }
    }
    this.pools.clear();
    await Promise.all(closing);
  }

  /** Open sessions (for diagnostics and tests). */
  get sessionCount(): number {
    let n = 0;
    for (const pool of this.pools.values()) for (const e of pool.all) if (!e.session.destroyed) n++;
    return n;
  }

  private pickSigner(route: ApnsRoute): ProviderTokenSigner {
    const candidates = this.signers.filter(
      (s) =>
        (route.teamId === undefined || s.credentials.teamId === route.teamId) &&
        (route.keyId === undefined || s.credentials.keyId === route.keyId),
    );
    const [only, ...rest] = candidates;
    if (only === undefined || rest.length > 0) {
      throw new TypeError(
        `No unique signing key for team ${route.teamId ?? '(any)'} / key ${route.keyId ?? '(any)'}`,
      );
    }
    return only;
  }

  private headers(n: ApnsNotification, apnsId: string, token: string): Record<string, string> {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': `/3/device/${n.deviceToken}`,
      authorization: `bearer ${token}`,
      'apns-push-type': n.pushType,
      'apns-topic': n.topic,
      'apns-id': apnsId,
    };
    // Omitted, not defaulted: an absent expiration means "store per APNs policy", 0 means "once".
    if (n.expiration !== undefined) headers['apns-expiration'] = String(n.expiration);
    if (n.priority !== undefined) headers['apns-priority'] = String(n.priority);
    if (n.collapseId !== undefined) headers['apns-collapse-id'] = n.collapseId;
    return headers;
  }

  private async session(poolKey: string, origin: string): Promise<SessionEntry> {
    let pool = this.pools.get(poolKey);
    if (pool === undefined) {
      pool = { current: undefined, connecting: undefined, all: new Set() };
      this.pools.set(poolKey, pool);
    }
    const current = pool.current;
    if (current !== undefined && usable(current)) return current;
    if (pool.connecting !== undefined) return pool.connecting;
    const p = pool;
    const connecting = this.open(p, origin).finally(() => {
      if (p.connecting === connecting) p.connecting = undefined;
    });
    p.connecting = connecting;
    return connecting;
  }

  private async open(pool: Pool, origin: string): Promise<SessionEntry> {
    const url = new URL(origin);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const tls = {
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      ...(this.options.rejectUnauthorized !== undefined
        ? { rejectUnauthorized: this.options.rejectUnauthorized }
        : {}),
    };
    let session: ClientHttp2Session;
    if (this.options.proxy !== undefined) {
      const socket = await connectThroughProxy({
        proxy: this.options.proxy,
        host,
        port,
        ...tls,
        clock: this.clock,
        timeoutMs,
      });
      session = http2Connect(url.origin, { createConnection: () => socket, settings: { enablePush: false } });
    } else {
      session = http2Connect(url.origin, { ...tls, settings: { enablePush: false } });
    }

    const entry: SessionEntry = {
      session,
      goawayLastStreamId: undefined,
      active: 0,
      idleTimer: undefined,
    };
    const forget = (): void => {
      this.stopIdleTimer(entry);
      pool.all.delete(entry);
      if (pool.current === entry) pool.current = undefined;
    };
    // Errors are reported through the streams; an unhandled 'error' event would crash the process.
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', (code: number, lastStreamId: number, data?: Buffer) => {
      // The session refuses new streams from now on: the next send must open a new one.
      entry.goawayLastStreamId = lastStreamId;
      const reason = reasonOf(data);
      if (pool.current === entry) pool.current = undefined;
      this.options.onGoaway?.({ origin, code, lastStreamId, reason });
    });

    await new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        session.destroy();
        reject(new Error(`Session to ${origin} not established within ${timeoutMs} ms`));
      }, timeoutMs);
      session.once('connect', () => {
        this.clock.clearTimeout(timer);
        resolve();
      });
      session.once('error', (err: Error) => {
        this.clock.clearTimeout(timer);
        reject(err);
      });
      session.once('close', () => {
        this.clock.clearTimeout(timer);
        reject(new Error(`Session to ${origin} closed while connecting`));
      });
    });
    if (this.closed) {
      session.close();
      throw new ApnsClientError('CLOSED', 'ApnsClient is closed', false);
    }
    pool.all.add(entry);
    pool.current = entry;
    this.startIdleTimer(entry);
    return entry;
  }

  private attempt(entry: SessionEntry, headers: Record<string, string>, body: Uint8Array): Promise<Attempt> {
    let stream;
    try {
      stream = entry.session.request(headers, { endStream: false });
    } catch {
      // The session is closing (GOAWAY) or gone: nothing was sent.
      entry.goawayLastStreamId ??= 0;
      return Promise.resolve({ kind: 'refused' });
    }
    this.stopIdleTimer(entry);
    entry.active++;
    return new Promise<Attempt>((resolve) => {
      let status: number | undefined;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let settled = false;
      const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
      const finish = (attempt: Attempt): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        entry.active--;
        if (entry.active === 0) this.startIdleTimer(entry);
        resolve(attempt);
      };
      const timer = this.clock.setTimeout(() => {
        finish({
          kind: 'failed',
          error: new ApnsClientError('TIMEOUT', `No answer within ${timeoutMs} ms`, true),
        });
        stream.close(constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // Handled on 'close', where the outcome is known; the listener only prevents an unhandled error.
      stream.on('error', () => undefined);
      stream.on('close', () => {
        if (status !== undefined) {
          finish({ kind: 'response', status, headers: responseHeaders, body: Buffer.concat(chunks) });
          return;
        }
        const id = stream.id;
        const lastId = entry.goawayLastStreamId;
        const unprocessed =
          stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ||
          id === undefined ||
          (lastId !== undefined && id > lastId);
        finish(
          unprocessed
            ? { kind: 'refused' }
            : {
                kind: 'failed',
                error: new ApnsClientError(
                  'STREAM_FAILED',
                  `Stream closed without a response (code ${stream.rstCode})`,
                  true,
                ),
              },
        );
      });
      stream.end(body);
    });
  }

  private startIdleTimer(entry: SessionEntry): void {
    const idleMs = this.options.pingIdleMs ?? 60 * 60 * 1000;
    if (idleMs <= 0 || entry.session.destroyed || entry.idleTimer !== undefined) return;
    entry.idleTimer = this.clock.setTimeout(() => {
      entry.idleTimer = undefined;
      this.ping(entry);
    }, idleMs);
  }

  private stopIdleTimer(entry: SessionEntry): void {
    if (entry.idleTimer !== undefined) this.clock.clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }

  /** PING an idle session; one that does not answer is dropped so the next send reconnects. */
  private ping(entry: SessionEntry): void {
    if (entry.session.destroyed || entry.session.closed) return;
    let answered = false;
    const timer = this.clock.setTimeout(() => {
      if (!answered) entry.session.destroy();
    }, this.options.pingTimeoutMs ?? 10_000);
    const sent = entry.session.ping((err) => {
      answered = true;
      this.clock.clearTimeout(timer);
      if (err !== null) entry.session.destroy();
      else if (entry.active === 0) this.startIdleTimer(entry);
    });
    if (!sent) {
      this.clock.clearTimeout(timer);
      entry.session.destroy();
    }
  }

  private backoffMs(attempt: number): number {
    const window = {
      initialMs: this.options.backoffBaseMs ?? 1000,
      maxMs: this.options.backoffMaxMs ?? 30_000,
    };
    // Full jitter spreads the retries of many senders hit by the same outage.
    return backoffDelay(attempt - 1, window, this.options.random);
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }
}

function usable(entry: SessionEntry): boolean {
  return entry.goawayLastStreamId === undefined && !entry.session.closed && !entry.session.destroyed;
}

function isRetryable(result: ApnsSendResult): boolean {
  if (result.reason !== undefined && NEVER_RETRY_REASONS.has(result.reason)) return false;
  return result.status === 429 || result.status >= 500;
}

function reasonOf(data: Buffer | undefined): string | undefined {
  if (data === undefined || data.length === 0) return undefined;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as unknown;
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'reason' in parsed &&
      typeof parsed.reason === 'string'
    ) {
      return parsed.reason;
    }
  } catch {
    // Not JSON: keep the bytes as text.
  }
  return data.toString('utf8');
}

function parseResponse(attempt: Extract<Attempt, { kind: 'response' }>, attempts: number): ApnsSendResult {
  const header = (name: string): string | undefined => {
    const v = attempt.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const apnsId = header('apns-id');
  const uniqueId = header('apns-unique-id');
  let reason: string | undefined;
  let timestamp: number | undefined;
  if (attempt.body.length > 0) {
    try {
      const body = JSON.parse(attempt.body.toString('utf8')) as { reason?: unknown; timestamp?: unknown };
      if (typeof body.reason === 'string') reason = body.reason;
      if (typeof body.timestamp === 'number') timestamp = body.timestamp;
    } catch {
      // A non-JSON error body (a proxy's HTML page, say): the status alone must do.
    }
  }
  return {
    status: attempt.status,
    apnsId,
    ...(reason !== undefined ? { reason } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(uniqueId !== undefined ? { uniqueId } : {}),
    attempts,
  };
}
