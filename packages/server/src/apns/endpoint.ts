/**
 * The APNs-compatible provider endpoint: `POST /3/device/<token>` over HTTP/2 with TLS (ALPN `h2`, with
 * HTTP/1.1 as the ALPN fallback) and, optionally, cleartext HTTP/2 with prior knowledge (h2c). Requests are
 * checked exactly as the test peer and APNs check them (ProviderTokenVerifier + validateApnsRequest), then
 * handed to the {@link ApnsRouter}; every answer carries `apns-id` and errors `{"reason"}` like APNs.
 */
import {
  constants,
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { followIdentity, tlsServerOptions, type Admission, type TlsIdentity } from '../core.js';
import { APNS_REASON_STATUS, isApnsReason } from './reasons.js';
import { ConnectionTokenTracker, type ProviderTokenVerifier } from './token-verifier.js';
import { bundleIdOf, validateApnsRequest, type ProviderAuth } from './validate.js';
import type { ApnsRouter, ApnsRouteResult } from './router.js';

/** Options of {@link listenApnsEndpoint}. */
export interface ApnsEndpointOptions {
  readonly router: Pick<ApnsRouter, 'route'>;
  readonly verifier: ProviderTokenVerifier;
  /**
   * Also accept `authorization: bearer <localpush provider key>` (the core's keys), for senders that have
   * no .p8 key of their own. Returns true when the header carries one.
   */
  readonly coreKey?: (authorization: string | undefined) => boolean;
  readonly host: string;
  /** TLS port (h2 + HTTP/1.1); 0 = any free port. */
  readonly port: number;
  /** Certificate and key (PEM) for TLS: the server identity. */
  readonly tls: TlsIdentity;
  /** Optional cleartext HTTP/2 (prior knowledge) port; null/undefined = none. */
  readonly h2cPort?: number | null;
  /**
   * Bundle ids a provider key may push to, by `teamId:keyId`; a key without an entry may push to any.
   * A request for another app is refused with TopicDisallowed.
   */
  readonly allowedTopics?: ReadonlyMap<string, ReadonlySet<string>>;
  /** An HTTP/2 connection idle this long gets GOAWAY {"reason":"IdleTimeout"} and is closed. Default 1 h. */
  readonly idleTimeoutMs?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS once a connection showed a valid token. Default 1000. */
  readonly maxConcurrentStreams?: number;
  readonly logger?: { error(obj: object, msg?: string): void };
  /**
   * The server's admission: a connection must finish its TLS handshake (h2c: send its connection preface
   * and SETTINGS) within the one deadline counted from accept, and counts against the caps on
   * unauthenticated connections until then.
   */
  readonly admission?: Admission;
}

/** A listening endpoint. */
export interface ApnsEndpoint {
  readonly address: { host: string; port: number };
  readonly h2cAddress: { host: string; port: number } | null;
  /** Stop accepting and drop every connection. */
  close(): Promise<void>;
}

/** One byte past the largest payload (VoIP, 5120): enough to answer PayloadTooLarge without keeping more. */
const MAX_KEPT_BODY_BYTES = 5121;

type AnyRequest = Http2ServerRequest | IncomingMessage;
type AnyResponse = Http2ServerResponse | ServerResponse;

/** Start the endpoint (and its h2c twin when `h2cPort` is set). */
export async function listenApnsEndpoint(options: ApnsEndpointOptions): Promise<ApnsEndpoint> {
  const onRequest = requestHandler(options);
  const tlsServer: Http2SecureServer = createSecureServer(
    {
      ...tlsServerOptions(options.tls),
      // HTTP/1.1 clients (and ALPN-less ones) get the same API over the compatibility layer.
      allowHTTP1: true,
      settings: { maxConcurrentStreams: 1 },
    },
    onRequest,
  );
  followIdentity(tlsServer, options.tls);
  const servers: (Http2SecureServer | Http2Server)[] = [tlsServer];
  let h2cServer: Http2Server | undefined;
  if (options.h2cPort !== undefined && options.h2cPort !== null) {
    h2cServer = createH2cServer({ settings: { maxConcurrentStreams: 1 } }, onRequest);
    servers.push(h2cServer);
  }
  const open = trackConnections(servers, options.idleTimeoutMs ?? 3_600_000);
  if (options.admission !== undefined) admitHandshakes(tlsServer, h2cServer, options.admission);

  const address = await listen(tlsServer, options.host, options.port);
  let h2cAddress: { host: string; port: number } | null = null;
  try {
    if (h2cServer !== undefined) h2cAddress = await listen(h2cServer, options.host, options.h2cPort ?? 0);
  } catch (error) {
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    throw error;
  }
  return { address, h2cAddress, close: () => closeServers(servers, open) };
}

/** The connections of the endpoint's servers, kept so that close can end them. */
interface OpenConnections {
  readonly sockets: Set<Socket>;
  readonly sessions: Set<ServerHttp2Session>;
}

/** Follows every socket and HTTP/2 session, and closes sessions idle for `idleTimeoutMs`. */
function trackConnections(
  servers: readonly (Http2SecureServer | Http2Server)[],
  idleTimeoutMs: number,
): OpenConnections {
  const open: OpenConnections = { sockets: new Set(), sessions: new Set() };
  for (const server of servers) {
    server.on('connection', (socket: Socket) => {
      open.sockets.add(socket);
      socket.on('close', () => open.sockets.delete(socket));
    });
    server.on('session', (session: ServerHttp2Session) => {
      open.sessions.add(session);
      // APNs closes connections that stay idle, saying why in the GOAWAY; so does this endpoint.
      session.setTimeout(idleTimeoutMs, () => {
        if (session.closed || session.destroyed) return;
        session.goaway(constants.NGHTTP2_NO_ERROR, undefined, Buffer.from('{"reason":"IdleTimeout"}'));
        session.close();
      });
      session.on('close', () => open.sessions.delete(session));
      session.on('error', () => undefined);
    });
  }
  return open;
}

/**
 * Every connection counts against the server's admission of unauthenticated connections until it has
 * proved something: a completed TLS handshake (a failed one ends the connection), or HTTP/2 settings on
 * the cleartext port.
 */
function admitHandshakes(
  tlsServer: Http2SecureServer,
  h2cServer: Http2Server | undefined,
  admission: NonNullable<ApnsEndpointOptions['admission']>,
): void {
  tlsServer.on('secureConnection', (socket: Socket) => admission.ticketOf(socket)?.release());
  tlsServer.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy());
  h2cServer?.on('session', (session: ServerHttp2Session) => {
    session.once('remoteSettings', () => {
      if (session.socket !== undefined) admission.ticketOf(session.socket)?.release();
    });
  });
  for (const server of h2cServer === undefined ? [tlsServer] : [tlsServer, h2cServer]) {
    server.on('connection', (socket: Socket) => admission.admit(socket, 'apns'));
  }
}

/** Stops accepting and drops every connection. */
async function closeServers(
  servers: readonly (Http2SecureServer | Http2Server)[],
  open: OpenConnections,
): Promise<void> {
  const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
  for (const session of open.sessions) {
    // GOAWAY with APNs's JSON reason, so clients reconnect elsewhere instead of retrying here. A session
    // that closed itself (idle timeout, the peer) stays in the set until its 'close' event, and goaway
    // on it would throw and leave the endpoint half closed.
    if (!session.destroyed && !session.closed) {
      session.goaway(constants.NGHTTP2_NO_ERROR, undefined, Buffer.from('{"reason":"Shutdown"}'));
    }
    session.destroy();
  }
  for (const socket of open.sockets) socket.destroy();
  await Promise.all(closed);
}

/** The servers' request listener: reads the body (keeping at most what can be judged), then handles it. */
function requestHandler(options: ApnsEndpointOptions): (req: AnyRequest, res: AnyResponse) => void {
  const connections: ConnectionAuth = { trackers: new WeakMap(), authed: new WeakSet() };
  return (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const room = MAX_KEPT_BODY_BYTES - size;
      if (room > 0) chunks.push(chunk.subarray(0, room));
      size += chunk.length;
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      // Settled by handle once validation chose it, so that even a failure answers with the request's id.
      const settled = { apnsId: '' };
      handle(options, connections, req, res, Buffer.concat(chunks), settled).catch((error: unknown) => {
        options.logger?.error({ err: error }, 'APNs endpoint request failed');
        const shuttingDown = (error as Error | undefined)?.name === 'EngineClosedError';
        answer(res, settled.apnsId, {
          status: shuttingDown ? 503 : 500,
          reason: shuttingDown ? 'Shutdown' : 'InternalServerError',
          path: 'refused',
        });
      });
    });
  };
}

/** Per connection: its provider-token tracker, and whether it has shown a valid token. */
interface ConnectionAuth {
  readonly trackers: WeakMap<object, ConnectionTokenTracker>;
  readonly authed: WeakSet<ServerHttp2Session>;
}

/** Authenticates the request on its connection, like APNs. */
async function authenticate(
  options: ApnsEndpointOptions,
  connections: ConnectionAuth,
  req: AnyRequest,
): Promise<ProviderAuth> {
  // The token rule is per connection: the HTTP/2 session, or the socket of an HTTP/1.1 connection.
  const session = 'stream' in req ? (req.stream.session as ServerHttp2Session | undefined) : undefined;
  const connection: object = session ?? req.socket;
  let tracker = connections.trackers.get(connection);
  if (tracker === undefined) {
    tracker = new ConnectionTokenTracker();
    connections.trackers.set(connection, tracker);
  }
  const authorization = req.headers.authorization;
  const auth: ProviderAuth =
    options.coreKey?.(authorization) === true
      ? { ok: true, teamId: 'localpush', keyId: 'provider-key' }
      : await options.verifier.verify(authorization, tracker);
  if (auth.ok && session !== undefined && !connections.authed.has(session) && !session.destroyed) {
    // Like APNs: one stream at a time until the connection has shown a valid token.
    connections.authed.add(session);
    session.settings({ maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 });
  }
  return auth;
}

/** Checks one request as APNs would and hands it to the router. */
async function handle(
  options: ApnsEndpointOptions,
  connections: ConnectionAuth,
  req: AnyRequest,
  res: AnyResponse,
  body: Buffer,
  settled: { apnsId: string },
): Promise<void> {
  const auth = await authenticate(options, connections, req);
  const result = validateApnsRequest({
    method: req.method ?? '',
    path: req.url ?? '',
    rawHeaders: req.rawHeaders,
    body,
    auth,
  });
  settled.apnsId = result.ok ? result.request.apnsId : result.apnsId;
  if (!result.ok) {
    answer(res, result.apnsId, { status: result.error.status, reason: result.error.reason, path: 'refused' });
    return;
  }
  const allowed = auth.ok ? options.allowedTopics?.get(`${auth.teamId}:${auth.keyId}`) : undefined;
  if (allowed !== undefined && !allowed.has(bundleIdOf(result.request.topic, result.request.pushType))) {
    answer(res, result.request.apnsId, { status: 400, reason: 'TopicDisallowed', path: 'refused' });
    return;
  }
  const routed = await options.router.route(result.request);
  answer(res, result.request.apnsId, routed);
}

/** Write an APNs answer: `apns-id` always; for errors a JSON `reason` (and `timestamp` for 410). */
function answer(res: AnyResponse, apnsId: string, result: ApnsRouteResult): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = apnsId === '' ? {} : { 'apns-id': apnsId };
  if (result.status === 200) {
    res.writeHead(200, headers);
    res.end();
    return;
  }
  // A relayed APNs status without a reason gets the table's reason for that status when unambiguous.
  const reason = result.reason ?? fallbackReason(result.status);
  headers['content-type'] = 'application/json';
  res.writeHead(result.status, headers);
  res.end(
    JSON.stringify(result.timestamp === undefined ? { reason } : { reason, timestamp: result.timestamp }),
  );
}

function fallbackReason(status: number): string {
  if (status === 500) return 'InternalServerError';
  if (status === 503) return 'ServiceUnavailable';
  if (status === 429) return 'TooManyRequests';
  const known = Object.entries(APNS_REASON_STATUS).find(([r, s]) => s === status && isApnsReason(r));
  return known?.[0] ?? 'InternalServerError';
}

function listen(
  server: Http2SecureServer | Http2Server,
  host: string,
  port: number,
): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      resolve({ host: bound.address, port: bound.port });
    });
  });
}
