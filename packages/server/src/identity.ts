/**
 * The server's own secrets, kept in its data directory: a TLS identity (self-signed on first start,
 * because isolated networks have no public CA — devices pin its public key instead), the keys of its TLS
 * session tickets, and the provider key that application servers use with the HTTP API.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import type { Server as TlsServer, TlsOptions } from 'node:tls';
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LocalpushError, ServerErrorCode } from './errors.js';

export interface ServerIdentity {
  key: string;
  cert: string;
  /** The 48 bytes of TLS session-ticket keys (`tls.Server` option `ticketKeys`), see {@link loadOrCreateTicketKeys}. */
  ticketKeys: Buffer;
  /** Base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what devices pin. */
  spkiPin: string;
  /** True when this call created the identity (first start). */
  created: boolean;
  /** The served certificate's end of validity (ms since the epoch); changes with a reload. */
  notAfter: number;
  /** The TLS servers serving this identity, which a certificate reload reaches (certificates.ts). */
  readonly servers: TlsServers;
}

/**
 * The TLS servers that serve an identity, so that a reload reaches every one of them. A listener adds
 * its server with {@link followIdentity} when it creates it; a closed server leaves by itself.
 */
export class TlsServers {
  private readonly servers = new Set<TlsServer>();

  add(server: TlsServer): void {
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
  }

  /** Every new handshake on every listener gets this identity; open connections keep theirs. */
  apply(identity: TlsIdentity): void {
    const options = tlsServerOptions(identity);
    for (const server of this.servers) server.setSecureContext(options);
  }

  get size(): number {
    return this.servers.size;
  }
}

/** Registers a TLS server with its identity's reloads (nothing for an identity without `servers`). */
export function followIdentity(server: TlsServer, identity: TlsIdentity): void {
  identity.servers?.add(server);
}

function notAfterOf(cert: string): number {
  return Date.parse(new X509Certificate(cert).validTo);
}

/** Base64 SHA-256 of a certificate's SubjectPublicKeyInfo (DER) — the pin format of Apple's sample too. */
export function spkiPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Writes a secret file atomically (temp file, then rename) and readable by the owner only. */
async function writeSecret(path: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, contents, { mode: 0o600 });
  await rename(temporary, path);
  await chmod(path, 0o600);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Loads `server.key` and `server.crt` from the data directory, generating a self-signed P-256 identity
 * on first start. The certificate names localhost, the loopback addresses and this host's name, so it
 * also works for clients that verify names with a CA file instead of a pin.
 */
export async function loadOrCreateIdentity(
  dataDir: string,
  extraNames: string[] = [],
): Promise<ServerIdentity> {
  const keyPath = join(dataDir, 'server.key');
  const certPath = join(dataDir, 'server.crt');
  const [key, cert] = await Promise.all([readIfExists(keyPath), readIfExists(certPath)]);
  const ticketKeys = await loadOrCreateTicketKeys(dataDir);
  if (key !== undefined && cert !== undefined) {
    try {
      return {
        key,
        cert,
        ticketKeys,
        spkiPin: spkiPin(cert),
        created: false,
        notAfter: notAfterOf(cert),
        servers: new TlsServers(),
      };
    } catch (cause) {
      throw new LocalpushError(
        ServerErrorCode.CONFIG_INVALID,
        `${certPath} is not a PEM certificate; fix it, or delete server.crt and server.key to generate new ones`,
        { cause },
      );
    }
  }
  if ((key === undefined) !== (cert === undefined)) {
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      `only one of ${keyPath} and ${certPath} exists; restore the other, or delete both to generate a new identity`,
    );
  }
  // Loaded only here, on first start: the certificate library and its ASN.1 stack take ~180 ms to load,
  // a tenth of a restart that every device waits for.
  const { generate } = await import('selfsigned');
  const names = [...new Set(['localhost', hostname(), ...extraNames])];
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'localpush' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    // Ten years: devices pin the key, not the validity period, and an expired certificate on a ship at
    // sea is an outage nobody can fix from shore.
    notAfterDate: new Date(now + 10 * 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
          { type: 7 as const, ip: '::1' },
        ],
      },
    ],
  });
  await writeSecret(keyPath, pems.private);
  await writeFile(certPath, pems.cert, { mode: 0o644 });
  return {
    key: pems.private,
    cert: pems.cert,
    ticketKeys,
    spkiPin: spkiPin(pems.cert),
    created: true,
    notAfter: notAfterOf(pems.cert),
    servers: new TlsServers(),
  };
}

/** Size of `tls.Server`'s `ticketKeys`: a 16-byte key name, a 16-byte HMAC secret and a 16-byte AES key. */
export const TICKET_KEYS_BYTES = 48;

/**
 * How long a session ticket lets a device resume (the TLS listeners' `sessionTimeout`, in seconds). Devices
 * get their tickets when they connect and then hold that connection for hours, so Node's default of
 * 300 s would let only devices that connected in the last five minutes resume after a restart. One day
 * covers a restart or a crash on the same day the fleet last reconnected; TLS 1.3 caps it at 7 days.
 */
export const TLS_SESSION_LIFETIME_SECONDS = 24 * 3600;

/** Ticket keys older than this are replaced at the next start. */
export const TICKET_KEYS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** The parts of an identity a TLS listener serves; `ticketKeys` absent means per-process keys (tests). */
export interface TlsIdentity {
  key: string | Buffer;
  cert: string | Buffer;
  ticketKeys?: Buffer | undefined;
  /** Where a reload applies a new certificate; absent = this identity is never reloaded. */
  servers?: TlsServers | undefined;
}

/**
 * The options every TLS listener of the server shares (devices, wss, APNs endpoint, SimplePush): the
 * identity, TLS 1.2 at least, and sessions that a device can resume — with the same ticket keys in every
 * listener and every process on this data directory.
 */
export function tlsServerOptions(identity: TlsIdentity): TlsOptions {
  return {
    key: identity.key,
    cert: identity.cert,
    minVersion: 'TLSv1.2',
    sessionTimeout: TLS_SESSION_LIFETIME_SECONDS,
    ...(identity.ticketKeys !== undefined ? { ticketKeys: identity.ticketKeys } : {}),
  };
}

/**
 * Loads the TLS session-ticket keys from `tls-ticket.keys`, creating them on first start.
 *
 * A ticket is the server's own session state, encrypted and authenticated with these keys and handed to
 * the client; the server remembers nothing. So a ticket issued by one process is accepted by the next
 * exactly when both use the same keys — which is why they live in the data directory instead of being
 * random per process (Node's default), and why the reconnect storm after a restart can resume sessions
 * instead of paying a full handshake per device.
 *
 * Rotation: whoever holds the keys can decrypt every ticket issued under them, so they are not kept
 * forever. A file older than `maxAgeMs` is replaced by new keys at start-up (its tickets then fail to
 * decrypt and those devices do one full handshake). Node holds one set of keys at a time, so there is no
 * grace period with the old keys; rotating only at start-up and at most weekly keeps that cost rare.
 * A process that runs longer than `maxAgeMs` keeps its keys until its next start.
 */
export async function loadOrCreateTicketKeys(
  dataDir: string,
  options: { now?: number; maxAgeMs?: number } = {},
): Promise<Buffer> {
  const path = join(dataDir, 'tls-ticket.keys');
  const now = options.now ?? Date.now();
  const maxAgeMs = options.maxAgeMs ?? TICKET_KEYS_MAX_AGE_MS;
  let existing: Buffer | undefined;
  let modifiedAt = 0;
  try {
    [existing, modifiedAt] = await Promise.all([readFile(path), stat(path).then((s) => s.mtimeMs)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing !== undefined) {
    if (existing.byteLength !== TICKET_KEYS_BYTES) {
      // Never replaced silently: a truncated or foreign file may be a mistake worth seeing (wrong data
      // directory, a restore gone wrong), and deleting it costs only one full handshake per device.
      throw new LocalpushError(
        ServerErrorCode.TICKET_KEYS_INVALID,
        `${path} holds ${existing.byteLength} bytes, not the ${TICKET_KEYS_BYTES} of TLS session-ticket keys; ` +
          'delete it to generate new ones (devices then do one full TLS handshake instead of resuming)',
      );
    }
    if (now - modifiedAt < maxAgeMs) return existing;
  }
  const keys = randomBytes(TICKET_KEYS_BYTES);
  await writeSecret(path, keys);
  return keys;
}

/** Provider keys look like `lpk_` + 32 random bytes in base64url. */
export function generateProviderKey(): string {
  return `lpk_${randomBytes(32).toString('base64url')}`;
}

/** Loads the provider key from `provider.key`, generating it on first start. */
export async function loadOrCreateProviderKey(dataDir: string): Promise<{ key: string; created: boolean }> {
  const path = join(dataDir, 'provider.key');
  const existing = await readIfExists(path);
  if (existing !== undefined) {
    const key = existing.trim();
    if (key.length < 16) {
      throw new LocalpushError(
        ServerErrorCode.CONFIG_INVALID,
        `${path} holds no usable provider key; delete it to generate a new one`,
      );
    }
    return { key, created: false };
  }
  const key = generateProviderKey();
  await writeSecret(path, `${key}\n`);
  return { key, created: true };
}

/** Reads the provider key without creating one (for CLI commands that talk to a running server). */
export async function readProviderKey(dataDir: string): Promise<string | undefined> {
  return (await readIfExists(join(dataDir, 'provider.key')))?.trim();
}

/** Reads the certificate's pin without creating anything (for `localpush listen`). */
export async function readSpkiPin(dataDir: string): Promise<string | undefined> {
  const cert = await readIfExists(join(dataDir, 'server.crt'));
  return cert === undefined ? undefined : spkiPin(cert);
}
