/**
 * The certificate the server's TLS listeners serve — devices (TLS, wss), the APNs endpoint, SimplePush —
 * and replacing it while they run.
 *
 * Where it comes from: `--cert`/`--key` (PEM files; the certificate file may hold the chain after the
 * leaf, as a site's own CA issues it), or else the data directory's `server.crt`/`server.key`
 * (self-signed on first start, identity.ts). Either way it is checked before anything serves it: both
 * parse, the key is the certificate's, and the certificate is valid now. A bad one is refused with
 * LP_CERT_INVALID naming the file.
 *
 * Reloading (SIGHUP, `RunningServer.reloadCertificates`): the files are read and checked again, and only
 * a good pair is applied, with `tls.Server#setSecureContext` on every listener: established connections
 * keep the session they negotiated, and each new handshake gets the new certificate. A bad new pair is
 * refused (logged with LP_CERT_INVALID) and the old one stays.
 *
 * Near expiry (`--cert-expiry-warning`, 30 days by default) the server logs LP_CERT_EXPIRING at start,
 * at each reload and once a day; `notAfter` is there for the metrics.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '@localpush/protocol';
import { LocalpushError, ServerErrorCode } from './errors.js';
import {
  loadOrCreateIdentity,
  loadOrCreateTicketKeys,
  spkiPin,
  TlsServers,
  type ServerIdentity,
} from './identity.js';

/** A certificate and key checked to belong together. */
export interface CheckedCertificate {
  /** The PEM as read: the leaf, then any chain. */
  cert: string;
  key: string;
  spkiPin: string;
  /** The leaf's end of validity (ms since the epoch). */
  notAfter: number;
  subject: string;
  issuer: string;
  /** True when the leaf is self-signed (the data directory's own), false when a CA issued it. */
  selfSigned: boolean;
}

/** The files a certificate is read from. */
export interface CertificateSource {
  certPath: string;
  keyPath: string;
  /** 'files' for --cert/--key, 'data-dir' for the data directory's own. */
  origin: 'files' | 'data-dir';
}

/** `--cert`/`--key` when given (both or neither), else the data directory's pair. */
export function certificateSource(config: {
  cert: string | null;
  key: string | null;
  dataDir: string;
}): CertificateSource {
  if ((config.cert === null) !== (config.key === null)) {
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      `--cert and --key go together: ${config.cert === null ? '--key' : '--cert'} was given without ${config.cert === null ? '--cert' : '--key'}`,
    );
  }
  if (config.cert !== null && config.key !== null)
    return { certPath: config.cert, keyPath: config.key, origin: 'files' };
  return {
    certPath: join(config.dataDir, 'server.crt'),
    keyPath: join(config.dataDir, 'server.key'),
    origin: 'data-dir',
  };
}

function invalid(path: string, what: string, cause?: unknown): LocalpushError {
  return new LocalpushError(ServerErrorCode.CERT_INVALID, `${path}: ${what}`, { cause });
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw invalid(path, `cannot read the ${what}: ${(cause as Error).message}`, cause);
  }
}

/** Checks a certificate (PEM, leaf first) and its key; throws LP_CERT_INVALID naming what is wrong. */
export function checkCertificate(
  cert: string,
  key: string,
  source: Pick<CertificateSource, 'certPath' | 'keyPath'>,
  now: number,
): CheckedCertificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (cause) {
    throw invalid(source.certPath, 'is not a PEM certificate', cause);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (cause) {
    throw invalid(
      source.keyPath,
      'is not a PEM private key (an encrypted key needs its passphrase removed)',
      cause,
    );
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw invalid(source.keyPath, `is not the key of the certificate in ${source.certPath}`);
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (now < notBefore) throw invalid(source.certPath, `is not valid before ${leaf.validFrom}`);
  if (now >= notAfter) throw invalid(source.certPath, `expired on ${leaf.validTo}`);
  return {
    cert,
    key,
    spkiPin: spkiPin(cert),
    notAfter,
    subject: leaf.subject,
    issuer: leaf.issuer,
    selfSigned: leaf.checkIssued(leaf),
  };
}

/** Reads and checks the pair at `source`. */
export async function readCertificate(source: CertificateSource, now: number): Promise<CheckedCertificate> {
  const [cert, key] = await Promise.all([
    readPem(source.certPath, 'certificate'),
    readPem(source.keyPath, 'private key'),
  ]);
  return checkCertificate(cert, key, source, now);
}

/**
 * The server's identity from its configuration: `--cert`/`--key` when given (checked; the data
 * directory's ticket keys still serve session resumption), else the data directory's own pair, made on
 * first start and checked like any other.
 */
export async function loadServerIdentity(
  config: { cert: string | null; key: string | null; dataDir: string },
  now: number,
): Promise<{ identity: ServerIdentity; source: CertificateSource }> {
  const source = certificateSource(config);
  if (source.origin === 'data-dir') {
    const identity = await loadOrCreateIdentity(config.dataDir);
    checkCertificate(identity.cert, identity.key, source, now);
    return { identity, source };
  }
  const checked = await readCertificate(source, now);
  const ticketKeys = await loadOrCreateTicketKeys(config.dataDir);
  return {
    identity: {
      key: checked.key,
      cert: checked.cert,
      ticketKeys,
      spkiPin: checked.spkiPin,
      created: false,
      notAfter: checked.notAfter,
      servers: new TlsServers(),
    },
    source,
  };
}

/** What a reload did. */
export type CertificateReload =
  | { applied: true; changed: boolean; spkiPin: string; notAfter: number; listeners: number }
  | { applied: false; error: LocalpushError };

const DAY_MS = 86_400_000;

/** Minimal logger shape (pino satisfies it). */
export interface CertificateLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Reloads and watches the served certificate: {@link reload} reads the source again and applies a good
 * pair to every listener; the expiry check runs at start, after each reload and daily.
 */
export class ServedCertificate {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly identity: ServerIdentity,
    private source: CertificateSource,
    private readonly clock: Clock,
    private readonly logger: CertificateLogger,
    private warnWithinMs: number,
  ) {}

  /** The served certificate's end of validity (ms since the epoch): for the metrics. */
  get notAfter(): number {
    return this.identity.notAfter;
  }

  /** Where the served certificate is read from. */
  get from(): CertificateSource {
    return this.source;
  }

  /** Checks expiry now and daily. */
  start(): void {
    this.checkExpiry();
    this.timer = this.clock.setTimeout(() => this.start(), DAY_MS);
  }

  close(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads the certificate and key again (from new paths when `next` names them) and, if they are good,
   * serves them on every listener from the next handshake on. A bad pair is logged with LP_CERT_INVALID
   * and refused: the old one stays.
   */
  async reload(
    next:
      { cert: string | null; key: string | null; dataDir: string; certExpiryWarningMs?: number } | undefined,
  ): Promise<CertificateReload> {
    let source = this.source;
    let checked: CheckedCertificate;
    try {
      if (next !== undefined) source = certificateSource(next);
      checked = await readCertificate(source, this.clock.now());
    } catch (error) {
      const refused =
        error instanceof LocalpushError
          ? error
          : new LocalpushError(ServerErrorCode.CERT_INVALID, String(error), { cause: error });
      this.logger.error(
        { code: ServerErrorCode.CERT_INVALID, cert: source.certPath, key: source.keyPath, err: refused },
        `certificate reload refused, still serving the old certificate: ${refused.message}`,
      );
      return { applied: false, error: refused };
    }
    const changed = checked.cert !== this.identity.cert || checked.key !== this.identity.key;
    this.identity.servers.apply({ ...checked, ticketKeys: this.identity.ticketKeys });
    Object.assign(this.identity, {
      cert: checked.cert,
      key: checked.key,
      spkiPin: checked.spkiPin,
      notAfter: checked.notAfter,
    });
    this.source = source;
    if (next?.certExpiryWarningMs !== undefined) this.warnWithinMs = next.certExpiryWarningMs;
    this.logger.info(
      {
        cert: source.certPath,
        changed,
        pin: checked.spkiPin,
        notAfter: new Date(checked.notAfter).toISOString(),
        listeners: this.identity.servers.size,
      },
      changed
        ? 'certificate reloaded: new handshakes get the new certificate'
        : 'certificate reloaded: unchanged',
    );
    this.checkExpiry();
    return {
      applied: true,
      changed,
      spkiPin: checked.spkiPin,
      notAfter: checked.notAfter,
      listeners: this.identity.servers.size,
    };
  }

  private checkExpiry(): void {
    const left = this.identity.notAfter - this.clock.now();
    if (left > this.warnWithinMs) return;
    this.logger.warn(
      {
        code: ServerErrorCode.CERT_EXPIRING,
        cert: this.source.certPath,
        notAfter: new Date(this.identity.notAfter).toISOString(),
        daysLeft: Math.floor(left / DAY_MS),
      },
      `the served certificate expires in ${Math.max(0, Math.floor(left / DAY_MS))} days (${new Date(this.identity.notAfter).toISOString()}): renew it, then send SIGHUP`,
    );
  }
}
