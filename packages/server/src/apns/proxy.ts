/**
 * HTTP CONNECT tunnelling for the APNs client: corporate networks often allow only an HTTP proxy out, and
 * HTTP/2 to APNs works through one once the tunnel is up (CONNECT, then TLS over the raw socket).
 */
import { request } from 'node:http';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Clock } from '@localpush/protocol';

/** What {@link connectThroughProxy} needs. */
export interface ProxyConnectOptions {
  /** `http://[user:pass@]host:port` of the proxy. */
  readonly proxy: string;
  /** The target behind the proxy. */
  readonly host: string;
  readonly port: number;
  /** TLS trust for the target (tests pass the peer's self-signed certificate). */
  readonly ca?: string | Buffer | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
  readonly clock: Clock;
  /** Give up when the tunnel and handshake take longer. */
  readonly timeoutMs: number;
}

/**
 * Open a CONNECT tunnel through `proxy` to host:port and complete a TLS handshake offering only `h2`
 * over it. Resolves with the secure socket, ready for `http2.connect({ createConnection })`.
 */
export function connectThroughProxy(options: ProxyConnectOptions): Promise<TLSSocket> {
  const proxyUrl = new URL(options.proxy);
  if (proxyUrl.protocol !== 'http:') {
    return Promise.reject(new TypeError(`Unsupported proxy protocol ${proxyUrl.protocol} (use http://)`));
  }
  const authority = `${isIP(options.host) === 6 ? `[${options.host}]` : options.host}:${options.port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxyUrl.username !== '') {
    const credentials = `${decodeURIComponent(proxyUrl.username)}:${decodeURIComponent(proxyUrl.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }

  return new Promise<TLSSocket>((resolve, reject) => {
    let done = false;
    const timer = options.clock.setTimeout(() => {
      finish(new Error(`Proxy tunnel to ${authority} timed out after ${options.timeoutMs} ms`));
      req.destroy();
    }, options.timeoutMs);
    const finish = (error: Error | undefined, socket?: TLSSocket): void => {
      if (done) return;
      done = true;
      options.clock.clearTimeout(timer);
      if (error !== undefined || socket === undefined) reject(error ?? new Error('Proxy tunnel failed'));
      else resolve(socket);
    };

    const req = request({
      host: proxyUrl.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxyUrl.port || 80),
      method: 'CONNECT',
      path: authority,
      headers,
    });
    req.on('error', (err) =>
      finish(new Error(`Proxy ${proxyUrl.host} unreachable: ${err.message}`, { cause: err })),
    );
    req.on('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        finish(new Error(`Proxy ${proxyUrl.host} refused CONNECT ${authority}: ${res.statusCode}`));
        return;
      }
      // Bytes the proxy sent after its response already belong to the tunnel.
      if (head.length > 0) socket.unshift(head);
      const secure = tlsConnect({
        socket,
        // `host` is what the certificate is checked against; SNI must not carry an IP address.
        host: options.host,
        servername: isIP(options.host) === 0 ? options.host : '',
        ALPNProtocols: ['h2'],
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.rejectUnauthorized !== undefined
          ? { rejectUnauthorized: options.rejectUnauthorized }
          : {}),
      });
      secure.once('secureConnect', () => {
        if (secure.alpnProtocol !== 'h2') {
          secure.destroy();
          finish(new Error(`${authority} did not negotiate HTTP/2 through the proxy`));
          return;
        }
        finish(undefined, secure);
      });
      secure.once('error', (err: Error) => {
        secure.destroy();
        finish(err);
      });
    });
    req.end();
  });
}
