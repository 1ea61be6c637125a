/**
 * Thin TLS listeners for the SimplePush gateway (control channel 5060, notification channel 3000, as in
 * the sample), and the SPKI pin that the sample's app and extension compare the server certificate with.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { followIdentity, tlsServerOptions, type Admission, type TlsIdentity } from '../core.js';
import { SimplePushGateway } from './gateway.js';

/** Where a listener ended up (useful with port 0). */
export interface SimplePushAddress {
  host: string;
  port: number;
}

export interface ListenSimplePushOptions {
  /** The server identity. The sample's clients pin its public key, so keep the key when renewing. */
  tls: TlsIdentity;
  /** The app's control channel. The sample: 5060. */
  controlPort?: number;
  /** The extension's notification channel. The sample: 3000. */
  notificationPort?: number;
  /** Interface to bind; all interfaces when absent (devices connect over the local network). */
  host?: string;
  /** The gateway to feed; a new one with default options when absent. */
  gateway?: SimplePushGateway;
  /** TLS handshake deadline, so half-open handshakes do not pile up. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * The server's admission (one deadline from accept to registration, and the caps on connections that
   * have not registered, shared with every other listener). Without it only the handshake timeout above
   * applies — an idle timeout, which a peer dripping bytes can stretch.
   */
  admission?: Admission;
}

/** Two running TLS listeners in front of one gateway. */
export interface SimplePushListener {
  readonly gateway: SimplePushGateway;
  readonly control: SimplePushAddress;
  readonly notification: SimplePushAddress;
  /** Stops accepting and closes the connections these listeners accepted. */
  close(): Promise<void>;
}

/** Starts the control and notification TLS listeners. Rejects when either port cannot be bound. */
export async function listenSimplePush(options: ListenSimplePushOptions): Promise<SimplePushListener> {
  const gateway = options.gateway ?? new SimplePushGateway();
  // Every accepted TCP socket, handshaking or not, so close() never waits on a half-done handshake.
  const sockets = new Set<Socket>();
  const admission = options.admission;
  const make = (
    accept: (socket: tls.TLSSocket, registered: (() => void) | undefined) => void,
  ): tls.Server => {
    const server = tls.createServer({
      ...tlsServerOptions(options.tls),
      // The sample's connections disable Nagle; small frames must not wait.
      noDelay: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    });
    followIdentity(server, options.tls);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      admission?.admit(socket, 'simplepush');
    });
    server.on('secureConnection', (socket) => {
      socket.setNoDelay(true);
      const ticket = admission?.ticketOf(socket);
      accept(socket, ticket === undefined ? undefined : () => ticket.release());
    });
    // A failed handshake (a scanner, a wrong pin on the client side, the handshake timeout) ends the
    // connection: Node only reports it.
    server.on('tlsClientError', (_error, socket) => socket.destroy());
    return server;
  };
  const controlServer = make((socket, registered) => gateway.handleControl(socket, registered));
  const notificationServer = make((socket, registered) => gateway.handleNotification(socket, registered));
  const closeServer = (server: tls.Server): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
  try {
    const control = await bind(controlServer, options.controlPort ?? 5060, options.host);
    const notification = await bind(notificationServer, options.notificationPort ?? 3000, options.host);
    return {
      gateway,
      control,
      notification,
      async close() {
        const closed = Promise.all([closeServer(controlServer), closeServer(notificationServer)]);
        for (const socket of sockets) socket.destroy();
        await closed;
      },
    };
  } catch (error) {
    await Promise.all([closeServer(controlServer), closeServer(notificationServer)]);
    throw error;
  }
}

function bind(server: tls.Server, port: number, host: string | undefined): Promise<SimplePushAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new Error(`cannot listen on ${host ?? '*'}:${port}: ${error.code ?? error.message}`, {
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address() as AddressInfo;
      resolve({ host: address.address, port: address.port });
    });
  });
}

/**
 * The pin the sample's clients compare with: base64 of the SHA-256 of the certificate's
 * SubjectPublicKeyInfo (DER). Print it and paste it into the app and extension.
 */
export function spkiPinBase64(certPem: string | Buffer): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
