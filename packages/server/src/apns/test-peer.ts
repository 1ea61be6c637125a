/**
 * A local stand-in for APNs, shipped as a tool: an HTTP/2 TLS server on 127.0.0.1 that applies the same
 * rules as APNs (validateApnsRequest + ProviderTokenVerifier), records every notification it accepts, and
 * can be scripted to fail the way APNs does (410 with timestamp, GOAWAY, 429, 5xx). Tests of the fallback
 * client and of real APNs client libraries run against it; nothing ever needs to reach Apple.
 */
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';
import { systemClock, type Clock } from '@localpush/protocol';
import { APNS_REASON_STATUS, type ApnsReason } from './reasons.js';
import { validateApnsRequest, type ApnsParsedRequest } from './validate.js';
import {
  ConnectionTokenTracker,
  ProviderTokenVerifier,
  type ApnsEnvironment,
  type ProviderKeyConfig,
} from './token-verifier.js';

/** A notification the peer accepted (answered 200). */
export interface RecordedNotification extends ApnsParsedRequest {
  /** The request headers (lower-case names, duplicates joined by Node). */
  readonly headers: IncomingHttpHeaders;
  /** The body bytes exactly as received. */
  readonly body: Buffer;
  /** The bearer token used. */
  readonly authorization: string | undefined;
  /** Which connection carried it (1, 2, … in order of connection). */
  readonly connection: number;
}

/** Every request the peer answered, accepted or not. */
export interface RecordedResponse {
  readonly path: string;
  readonly status: number;
  readonly reason: string | undefined;
  readonly apnsId: string;
  readonly authorization: string | undefined;
  readonly connection: number;
}

/** Options of {@link createApnsTestPeer}. */
export interface ApnsTestPeerOptions {
  /** Keys whose tokens are accepted. */
  readonly keys: readonly ProviderKeyConfig[];
  /** Clock for token ages; share the client's manual clock in timing tests. */
  readonly clock?: Clock;
  /** 'development' adds `apns-unique-id` to answers, as the sandbox does. Default 'development'. */
  readonly environment?: ApnsEnvironment;
  /** SETTINGS_MAX_CONCURRENT_STREAMS once a connection presented a valid token. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** A certificate/key to serve instead of generating one (saves time across many peers). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** Scripted behaviour; each rule applies to requests that are otherwise valid. */
export interface ApnsTestPeerScript {
  /** Answer 410 Unregistered with `timestamp` for this device token (until cleared). */
  unregister(deviceToken: string, timestamp: number): void;
  /** Answer the next `times` valid requests with `reason` (its status from the table). */
  fail(reason: ApnsReason, times?: number): void;
  /**
   * On the next request: send GOAWAY carrying `{"reason": reason}` with a last-stream-id below that
   * request, so it is refused unprocessed, then close the connection.
   */
  goAwayOnNextRequest(reason?: ApnsReason, code?: number): void;
}

/** A running peer. */
export interface ApnsTestPeer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The self-signed certificate (PEM) to trust. */
  readonly cert: string;
  readonly notifications: readonly RecordedNotification[];
  readonly responses: readonly RecordedResponse[];
  /** Connections accepted so far. */
  readonly connectionCount: number;
  /** PING frames received from clients so far. */
  readonly pingCount: number;
  /** Resolves once `count` PINGs have been received. */
  waitForPings(count: number): Promise<void>;
  readonly script: ApnsTestPeerScript;
  /** Resolves once `count` notifications have been accepted. */
  waitForNotifications(count: number): Promise<void>;
  /** Close every connection and the listener. */
  close(): Promise<void>;
}

/** Generate a self-signed EC certificate for 127.0.0.1, ::1 and localhost. */
export async function generatePeerCertificate(): Promise<{ cert: string; key: string }> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

const MAX_BODY_BYTES = 5120;

function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) out.push(name, String(v));
  }
  return out;
}

/** Waiters for a count to be reached. */
type CountWaiters = { count: number; resolve: () => void }[];

function release(list: CountWaiters, reached: number): void {
  for (const waiter of [...list]) {
    if (reached >= waiter.count) {
      list.splice(list.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}

function waitFor(list: CountWaiters, reached: number, count: number): Promise<void> {
  if (reached >= count) return Promise.resolve();
  return new Promise((resolve) => list.push({ count, resolve }));
}

function respondError(
  stream: ServerHttp2Stream,
  status: number,
  reason: string,
  apnsId: string,
  timestamp: number | undefined,
): void {
  if (stream.destroyed) return;
  stream.respond({ ':status': status, 'apns-id': apnsId, 'content-type': 'application/json' });
  stream.end(JSON.stringify(timestamp === undefined ? { reason } : { reason, timestamp }));
}

/** One connection as the peer tracks it. */
interface PeerConnection {
  readonly id: number;
  readonly tracker: ConnectionTokenTracker;
  authed: boolean;
}

/** What the peer has seen and been scripted to do, and how it answers each stream. */
class PeerState {
  readonly notifications: RecordedNotification[] = [];
  readonly responses: RecordedResponse[] = [];
  readonly notificationWaiters: CountWaiters = [];
  readonly pingWaiters: CountWaiters = [];
  pings = 0;
  connections = 0;
  readonly unregistered = new Map<string, number>();
  readonly failures: ApnsReason[] = [];
  goAway: { reason: ApnsReason; code: number } | undefined;
  readonly sessions = new Set<ServerHttp2Session>();
  private readonly perSession = new WeakMap<ServerHttp2Session, PeerConnection>();

  constructor(
    private readonly verifier: ProviderTokenVerifier,
    private readonly environment: ApnsEnvironment,
    private readonly maxConcurrentStreams: number,
  ) {}

  readonly onSession = (session: ServerHttp2Session): void => {
    this.sessions.add(session);
    this.perSession.set(session, {
      id: ++this.connections,
      tracker: new ConnectionTokenTracker(),
      authed: false,
    });
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => undefined);
    session.on('ping', () => {
      this.pings++;
      release(this.pingWaiters, this.pings);
    });
  };

  /**
   * Node passes the raw header list as a fourth argument (its typings omit it); only the raw list shows
   * a header sent twice, which the parsed object would have joined.
   */
  readonly onStream = (
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    _flags: number,
    raw?: unknown,
  ): void => {
    const rawHeaders = Array.isArray(raw) ? raw.map(String) : flatten(headers);
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      // Keep one byte past the largest limit: enough to answer PayloadTooLarge without buffering more.
      const room = MAX_BODY_BYTES + 1 - size;
      if (room > 0) chunks.push(chunk.subarray(0, room));
      size += chunk.length;
    });
    stream.on('end', () => {
      void this.handle(stream, headers, rawHeaders, Buffer.concat(chunks));
    });
  };

  private async handle(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: string[],
    body: Buffer,
  ): Promise<void> {
    const session = stream.session as ServerHttp2Session | undefined;
    const state = session === undefined ? undefined : this.perSession.get(session);
    if (session === undefined || state === undefined || stream.destroyed) return;
    if (this.goAway !== undefined) {
      this.refuseWithGoAway(session, stream, this.goAway);
      return;
    }
    const path = String(headers[':path'] ?? '');
    const authorization = headers.authorization;
    const auth = await this.verifier.verify(authorization, state.tracker);
    if (stream.destroyed) return;
    const result = validateApnsRequest({
      method: String(headers[':method'] ?? ''),
      path,
      rawHeaders,
      body,
      auth,
    });
    if (auth.ok && !state.authed) {
      // Until a connection shows a valid token APNs serves it one stream at a time.
      state.authed = true;
      session.settings({ maxConcurrentStreams: this.maxConcurrentStreams });
    }
    const record = (status: number, reason: string | undefined, apnsId: string): void => {
      this.responses.push({ path, status, reason, apnsId, authorization, connection: state.id });
    };
    if (!result.ok) {
      record(result.error.status, result.error.reason, result.apnsId);
      respondError(stream, result.error.status, result.error.reason, result.apnsId, undefined);
      return;
    }
    const request = result.request;
    const refusal = this.scriptedRefusal(request.deviceToken);
    if (refusal !== undefined) {
      record(refusal.status, refusal.reason, request.apnsId);
      respondError(stream, refusal.status, refusal.reason, request.apnsId, refusal.timestamp);
      return;
    }
    record(200, undefined, request.apnsId);
    this.notifications.push({ ...request, headers, body, authorization, connection: state.id });
    stream.respond(
      {
        ':status': 200,
        'apns-id': request.apnsId,
        ...(this.environment === 'development' ? { 'apns-unique-id': randomUUID() } : {}),
      },
      { endStream: true },
    );
    release(this.notificationWaiters, this.notifications.length);
  }

  /** The scripted GOAWAY, once. */
  private refuseWithGoAway(
    session: ServerHttp2Session,
    stream: ServerHttp2Stream,
    { reason, code }: { reason: ApnsReason; code: number },
  ): void {
    this.goAway = undefined;
    // Everything before this stream was processed; this one was not and the client may resend it.
    session.goaway(code, Math.max(0, (stream.id ?? 1) - 2), Buffer.from(JSON.stringify({ reason })));
    stream.close(constants.NGHTTP2_REFUSED_STREAM);
    session.close();
  }

  /** A scripted failure (used up), or the token's scripted 410, for an otherwise valid request. */
  private scriptedRefusal(
    deviceToken: string,
  ): { status: number; reason: ApnsReason; timestamp: number | undefined } | undefined {
    const scripted = this.failures.shift();
    if (scripted !== undefined)
      return { status: APNS_REASON_STATUS[scripted], reason: scripted, timestamp: undefined };
    const gone = this.unregistered.get(deviceToken);
    return gone === undefined ? undefined : { status: 410, reason: 'Unregistered', timestamp: gone };
  }
}

/** Start an APNs test peer on 127.0.0.1 (a free port). */
export async function createApnsTestPeer(options: ApnsTestPeerOptions): Promise<ApnsTestPeer> {
  const clock = options.clock ?? systemClock;
  const environment = options.environment ?? 'development';
  const verifier = new ProviderTokenVerifier({ keys: options.keys, clock, environment });
  const tls = options.tls ?? (await generatePeerCertificate());
  const peer = new PeerState(verifier, environment, options.maxConcurrentStreams ?? 1000);
  // Until a connection shows a valid token APNs serves it one stream at a time.
  const server: Http2SecureServer = createSecureServer({
    cert: tls.cert,
    key: tls.key,
    allowHTTP1: false,
    settings: { maxConcurrentStreams: 1 },
  });
  server.on('session', peer.onSession);
  server.on('stream', peer.onStream as (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    cert: tls.cert,
    notifications: peer.notifications,
    responses: peer.responses,
    get connectionCount() {
      return peer.connections;
    },
    script: {
      unregister(deviceToken, timestamp) {
        peer.unregistered.set(deviceToken.toLowerCase(), timestamp);
      },
      fail(reason, times = 1) {
        for (let i = 0; i < times; i++) peer.failures.push(reason);
      },
      goAwayOnNextRequest(reason = 'Shutdown', code = constants.NGHTTP2_NO_ERROR) {
        peer.goAway = { reason, code };
      },
    },
    get pingCount() {
      return peer.pings;
    },
    waitForPings: (count) => waitFor(peer.pingWaiters, peer.pings, count),
    waitForNotifications: (count) => waitFor(peer.notificationWaiters, peer.notifications.length, count),
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of peer.sessions) session.destroy();
      });
    },
  };
}
