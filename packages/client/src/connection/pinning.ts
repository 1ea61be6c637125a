/**
 * Certificate pinning by SubjectPublicKeyInfo, as Apple's Local Push sample does: on an isolated network
 * the server's certificate is usually self-signed, so instead of CA, host name and expiry checks the
 * client accepts exactly the key it was configured with. Pinning the key (not the certificate) survives
 * re-issuing the certificate for the same key.
 */
import { X509Certificate, createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

const SHA256_BYTES = 32;

/** The pin of a certificate: base64 of SHA-256 over its DER SubjectPublicKeyInfo. */
export function spkiPin(certificate: X509Certificate | string | Uint8Array): string {
  const cert = certificate instanceof X509Certificate ? certificate : new X509Certificate(certificate);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Decodes configured pins, rejecting any that is not base64 of 32 bytes so that a typo fails at once. */
export function decodePins(pin: string | readonly string[] | undefined): Buffer[] {
  if (pin === undefined) return [];
  const list = typeof pin === 'string' ? [pin] : pin;
  if (list.length === 0) throw new RangeError('pin: give at least one base64 SHA-256 SPKI hash');
  return list.map((p) => {
    const bytes = Buffer.from(p, 'base64');
    if (bytes.length !== SHA256_BYTES || bytes.toString('base64') !== p.trim()) {
      throw new RangeError(`pin "${p}" is not the base64 of a 32-byte SHA-256 hash`);
    }
    return bytes;
  });
}

/** The outcome of checking a connected socket against the pins. */
export interface PinCheck {
  ok: boolean;
  /** The pin the server presented, for the error message; undefined when it sent no certificate. */
  actual: string | undefined;
}

/** Checks the peer's key against every pin in constant time per comparison. */
export function checkPeerPin(socket: TLSSocket, pins: readonly Buffer[]): PinCheck {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return { ok: false, actual: undefined };
  const digest = createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
  let ok = false;
  // No early exit: every pin is compared, so timing does not reveal which (if any) matched.
  for (const pin of pins) ok = timingSafeEqual(digest, pin) || ok;
  return { ok, actual: digest.toString('base64') };
}
