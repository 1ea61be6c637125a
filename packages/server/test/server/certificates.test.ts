/**
 * --cert/--key and reloading them (src/certificates.ts): a site's own CA-issued certificate, with its
 * chain, is served on the device TLS, wss and APNs listeners with its pin; a reload applies a new one to
 * new handshakes while an established device connection carries on; a bad new pair is refused with
 * LP_CERT_INVALID and the old one stays; a bad pair at start-up stops the start; a certificate near its
 * end is warned about with LP_CERT_EXPIRING.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import { pino } from 'pino';
import selfsigned from 'selfsigned';
import { spkiPin } from '../../src/identity.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { addDevice, waitForState } from '../helpers/e2e.js';

const DAY = 86_400_000;

interface Pem {
  cert: string;
  key: string;
}

/** A site's CA, and leaves it issues for localhost and 127.0.0.1 (the chain: leaf, then the CA). */
async function siteCa(): Promise<{ ca: Pem; issue: (days?: number) => Promise<Pem> }> {
  const caPems = await selfsigned.generate([{ name: 'commonName', value: 'Example Hospital CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true },
    ],
  });
  const ca = { cert: caPems.cert, key: caPems.private };
  const issue = async (days = 365): Promise<Pem> => {
    const leaf = await selfsigned.generate([{ name: 'commonName', value: 'push.example.internal' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - 60_000),
      notAfterDate: new Date(Date.now() + days * DAY),
      ca: { cert: ca.cert, key: ca.key },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    return { cert: `${leaf.cert.trim()}\n${ca.cert.trim()}\n`, key: leaf.private };
  };
  return { ca, issue };
}

/** The leaf certificate a new handshake on `port` gets, verified against `ca` (chain and name). */
function servedPin(port: number, ca: string, alpn?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: alpn },
      () => {
        const pem = `-----BEGIN CERTIFICATE-----\n${socket.getPeerCertificate().raw.toString('base64')}\n-----END CERTIFICATE-----\n`;
        socket.destroy();
        resolve(spkiPin(pem));
      },
    );
    socket.on('error', reject);
  });
}

function logLines(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('certificates: --cert/--key and reload', () => {
  let dir: string;
  let site: Awaited<ReturnType<typeof siteCa>>;
  const certFile = (): string => join(dir, 'site.crt');
  const keyFile = (): string => join(dir, 'site.key');
  const writePair = async (pem: Pem): Promise<void> => {
    await writeFile(certFile(), pem.cert);
    await writeFile(keyFile(), pem.key);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-certs-'));
    site = await siteCa();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('serves the site certificate with its chain on every listener, and a reload reaches new handshakes only', async (t) => {
    const first = await site.issue();
    await writePair(first);
    const log = logLines();
    const server: RunningServer = await startServer(
      {
        dataDir: join(dir, 'data1'),
        store: 'memory',
        cert: certFile(),
        key: keyFile(),
        tlsPort: 0,
        wsPort: 0,
        apiPort: 0,
        apnsPort: 0,
      },
      { logger: pino({ level: 'info' }, log.stream) },
    );
    t.after(() => server.close());
    const firstPin = spkiPin(first.cert);
    assert.equal(server.identity.spkiPin, firstPin);
    const ports = [
      server.addresses.tls.port,
      server.addresses.ws?.port ?? 0,
      server.addresses.apns?.port ?? 0,
    ];
    for (const port of ports) assert.equal(await servedPin(port, site.ca.cert), firstPin, `port ${port}`);

    // A device connected before the reload…
    const { credential } = await addDevice(server, 'phone');
    const received: unknown[] = [];
    let onPush = (): void => {};
    const pushed = new Promise<void>((resolve) => (onPush = resolve));
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${server.addresses.tls.port}`,
      deviceId: 'phone',
      credential,
      pin: firstPin,
      onPush: (push) => {
        received.push(push.payload);
        onPush();
      },
    });
    t.after(() => client.stop());
    const states: string[] = [];
    client.on('state', (state) => states.push(state));
    client.start();
    await waitForState(client, 'connected');

    const second = await site.issue();
    await writePair(second);
    const reload = await server.reload();
    assert.equal(reload.certificate.applied, true);
    const secondPin = spkiPin(second.cert);
    assert.equal(server.identity.spkiPin, secondPin);
    for (const port of ports) assert.equal(await servedPin(port, site.ca.cert), secondPin, `port ${port}`);

    // …is still connected on the first certificate's session and gets a push.
    const response = await server.api.inject({
      method: 'POST',
      url: '/v1/push',
      headers: { authorization: `Bearer ${server.providerKey}` },
      payload: { to: 'phone', kind: 'message', payload: { after: 'reload' } },
    });
    assert.ok(response.statusCode < 300, response.body);
    await pushed;
    assert.deepEqual(received, [{ after: 'reload' }]);
    assert.deepEqual(states, ['connecting', 'handshaking', 'connected'], 'never disconnected');
    assert.ok(
      log.lines.some((l) => l.msg === 'certificate reloaded: new handshakes get the new certificate'),
    );

    // A bad new pair (the key of another certificate) is refused; the second one stays.
    const other = await site.issue();
    await writeFile(keyFile(), other.key);
    const refused = await server.reload();
    assert.equal(refused.certificate.applied, false);
    const line = log.lines.find((l) => l.code === 'LP_CERT_INVALID');
    assert.ok(line, 'a coded log line');
    assert.match(String(line.msg), /still serving the old certificate.*not the key of the certificate/);
    assert.equal(await servedPin(server.addresses.tls.port, site.ca.cert), secondPin);
    assert.equal(server.identity.spkiPin, secondPin);
  });

  it('refuses to start on a bad pair, naming the file, and on --cert without --key', async () => {
    const pem = await site.issue();
    const other = await site.issue();
    await writeFile(certFile(), pem.cert);
    await writeFile(keyFile(), other.key);
    const base = {
      dataDir: join(dir, 'data2'),
      store: 'memory' as const,
      tlsPort: 0,
      wsPort: null,
      apiPort: 0,
      logLevel: 'silent' as const,
    };
    await assert.rejects(
      startServer({ ...base, cert: certFile(), key: keyFile() }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'LP_CERT_INVALID');
        assert.ok(error.message.includes(keyFile()), error.message);
        return true;
      },
    );
    await writeFile(certFile(), 'not a certificate');
    await assert.rejects(
      startServer({ ...base, cert: certFile(), key: keyFile() }),
      /is not a PEM certificate/,
    );
    await assert.rejects(startServer({ ...base, cert: certFile() }), { code: 'LP_CONFIG_INVALID' });
  });

  it('warns with LP_CERT_EXPIRING when the certificate ends within --cert-expiry-warning', async (t) => {
    await writePair(await site.issue(5));
    const log = logLines();
    const server = await startServer(
      {
        dataDir: join(dir, 'data3'),
        store: 'memory',
        cert: certFile(),
        key: keyFile(),
        tlsPort: 0,
        wsPort: null,
        apiPort: 0,
      },
      { logger: pino({ level: 'info' }, log.stream) },
    );
    t.after(() => server.close());
    const line = log.lines.find((l) => l.code === 'LP_CERT_EXPIRING');
    assert.ok(line, 'warned at start');
    assert.equal(line.daysLeft, 4);
    assert.ok(Math.abs(server.certificate.notAfter - (Date.now() + 5 * DAY)) < 120_000);
  });
});
