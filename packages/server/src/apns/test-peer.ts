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

/** Start an APNs test peer on 127.0.0.1 (a free port). */
// eslint-disable-next-line max-lines-per-function -- one of the eight long functions issue 12 names, not split yet
export async function createApnsTestPeer(options: ApnsTestPeerOptions): Promise<ApnsTestPeer> {
  const clock = options.clock ?? systemClock;
  const environment = options.environment ?? 'development';
  const verifier = new ProviderTokenVerifier({ keys: options.keys, clock, environment });
  const tls = options.tls ?? (await generatePeerCertificate());
  const notifications: RecordedNotification[] = [];
  const responses: RecordedResponse[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const pingWaiters: { count: number; resolve: () => void }[] = [];
  let pings = 0;
  const unregistered = new Map<string, number>();
  const failures: ApnsReason[] = [];
  let goAway: { reason: ApnsReason; code: number } | undefined;
  let connections = 0;
  const sessions = new Set<ServerHttp2Session>();
  const sessionState = new WeakMap<
    ServerHttp2Session,
    { id: number; tracker: ConnectionTokenTracker; authed: boolean }
  >();

  // Until a connection shows a valid token APNs serves it one stream at a time.
  const server: Http2SecureServer = createSecureServer({
    cert: tls.cert,
    key: tls.key,
    allowHTTP1: false,
    settings: { maxConcurrentStreams: 1 },
  });
  server.on('session', (session) => {
    sessions.add(session);
    sessionState.set(session, { id: ++connections, tracker: new ConnectionTokenTracker(), authed: false });
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
    session.on('ping', () => {
      pings++;
      release(pingWaiters, pings);
    });
  });
  // Node passes the raw header list as a fourth argument (its typings omit it); only the raw list shows
  // a header sent twice, which the parsed object would have joined.
  const onStream = (
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
      void handle(stream, headers, rawHeaders, Buffer.concat(chunks));
    });
  };
  server.on('stream', onStream as (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void);

  async function handle(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: string[],
    body: Buffer,
  ): Promise<void> {
    const session = stream.session as ServerHttp2Session | undefined;
    const state = session === undefined ? undefined : sessionState.get(session);
    if (session === undefined || state === undefined || stream.destroyed) return;
    const path = String(headers[':path'] ?? '');
    const authorization = headers.authorization;

    if (goAway !== undefined) {
      const { reason, code } = goAway;
      goAway = undefined;
      // Everything before this stream was processed; this one was not and the client may resend it.
      session.goaway(code, Math.max(0, (stream.id ?? 1) - 2), Buffer.from(JSON.stringify({ reason })));
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      session.close();
      return;
    }

    const auth = await verifier.verify(authorization, state.tracker);
    if (stream.destroyed) return;
    const result = validateApnsRequest({
      method: String(headers[':method'] ?? ''),
      path,
      rawHeaders,
      body,
      auth,
    });
    if (auth.ok && !state.authed) {
      state.authed = true;
      session.settings({ maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 });
    }
    const record = (status: number, reason: string | undefined, apnsId: string): void => {
      responses.push({ path, status, reason, apnsId, authorization, connection: state.id });
    };

    if (!result.ok) {
      record(result.error.status, result.error.reason, result.apnsId);
      respondError(stream, result.error.status, result.error.reason, result.apnsId, undefined);
      return;
    }
    const request = result.request;
    const scripted = failures.shift();
    if (scripted !== undefined) {
      record(APNS_REASON_STATUS[scripted], scripted, request.apnsId);
      respondError(stream, APNS_REASON_STATUS[scripted], scripted, request.apnsId, undefined);
      return;
    }
    const gone = unregistered.get(request.deviceToken);
    if (gone !== undefined) {
      record(410, 'Unregistered', request.apnsId);
      respondError(stream, 410, 'Unregistered', request.apnsId, gone);
      return;
    }
    record(200, undefined, request.apnsId);
    notifications.push({ ...request, headers, body, authorization, connection: state.id });
    stream.respond(
      {
        ':status': 200,
        'apns-id': request.apnsId,
        ...(environment === 'development' ? { 'apns-unique-id': randomUUID() } : {}),
      },
      { endStream: true },
    );
    release(waiters, notifications.length);
  }

  function release(list: { count: number; resolve: () => void }[], reached: number): void {
    for (const waiter of [...list]) {
      if (reached >= waiter.count) {
        list.splice(list.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
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
    notifications,
    responses,
    get connectionCount() {
      return connections;
    },
    script: {
      unregister(deviceToken, timestamp) {
        unregistered.set(deviceToken.toLowerCase(), timestamp);
      },
      fail(reason, times = 1) {
        for (let i = 0; i < times; i++) failures.push(reason);
      },
      goAwayOnNextRequest(reason = 'Shutdown', code = constants.NGHTTP2_NO_ERROR) {
        goAway = { reason, code };
      },
    },
    get pingCount() {
      return pings;
    },
    waitForPings(count) {
      if (pings >= count) return Promise.resolve();
      return new Promise((resolve) => pingWaiters.push({ count, resolve }));
    },
    waitForNotifications(count) {
      if (notifications.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      });
    },
  };
}
