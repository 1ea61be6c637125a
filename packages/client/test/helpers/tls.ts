/**
 * Throwaway TLS material for tests: a self-signed certificate for localhost/127.0.0.1, generated once
 * per test process (RSA key generation is the slow part).
 */
import selfsigned from 'selfsigned';
import { spkiPin } from '../../src/connection/pinning.js';

/** A certificate, its key and its SPKI pin. */
export interface TestCert {
  cert: string;
  key: string;
  pin: string;
}

const cache = new Map<string, Promise<TestCert>>();

/** A self-signed certificate valid for localhost and 127.0.0.1; `name` gives a distinct key per name. */
export function testCert(name = 'default'): Promise<TestCert> {
  let pending = cache.get(name);
  if (pending === undefined) {
    pending = selfsigned
      .generate([{ name: 'commonName', value: 'localhost' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        extensions: [
          { name: 'basicConstraints', cA: true },
          {
            name: 'subjectAltName',
            altNames: [
              { type: 2, value: 'localhost' },
              { type: 7, ip: '127.0.0.1' },
            ],
          },
        ],
      })
      .then((pems) => ({ cert: pems.cert, key: pems.private, pin: spkiPin(pems.cert) }));
    cache.set(name, pending);
  }
  return pending;
}
