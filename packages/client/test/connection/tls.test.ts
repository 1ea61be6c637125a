/**
 * TLS: SPKI pinning (match, mismatch with no hello sent, host name ignored) and CA verification, over real
 * loopback TLS with a throwaway self-signed certificate.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { FakeServer } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { testCert } from '../helpers/tls.js';
import { waitForState } from '../helpers/wait.js';

async function tlsServer(t: TestContext, name = 'default'): Promise<FakeServer> {
  const cert = await testCert(name);
  const server = await FakeServer.start('tls', cert);
  t.after(() => server.close());
  return server;
}

test('a matching pin connects, even with a host name the certificate does not carry', async (t) => {
  const server = await tlsServer(t);
  const { pin } = await testCert();
  const { client } = makeClient(t, server.url, { pin, servername: 'not-the-cert.example' });
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
});

test('any of several pins may match', async (t) => {
  const server = await tlsServer(t);
  const { pin } = await testCert();
  const other = (await testCert('other')).pin;
  const { client } = makeClient(t, server.url, { pin: [other, pin] });
  client.start();
  await (await server.next()).accept();
  await waitForState(client, 'connected');
});

test('a pin mismatch refuses the connection before the hello', async (t) => {
  const server = await tlsServer(t);
  const { pin } = await testCert('other');
  const { client, errors } = makeClient(t, server.url, { pin });
  client.start();
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_PIN_MISMATCH');
  assert.match(errors[0]?.message ?? '', /does not match the pin/);
  await Promise.all(server.all.map((c) => c.closed));
  assert.ok(server.all.every((c) => c.received.length === 0));
  assert.equal(
    server.all.reduce((n, c) => n + c.bytesReceived, 0),
    0,
    'no application data (no hello) reached the server',
  );
});

test('CA mode verifies the chain and the host name', async (t) => {
  const server = await tlsServer(t);
  const { cert } = await testCert();
  const { client } = makeClient(t, server.url, { ca: cert, servername: 'localhost' });
  client.start();
  await (await server.next()).accept();
  await waitForState(client, 'connected');
});

test('without a pin or a trusted CA, a self-signed server is refused', async (t) => {
  const server = await tlsServer(t);
  const { client, errors } = makeClient(t, server.url, { servername: 'localhost' });
  client.start();
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_TLS_FAILED');
});

test('CA mode with the wrong host name is refused', async (t) => {
  const server = await tlsServer(t);
  const { cert } = await testCert();
  const { client, errors } = makeClient(t, server.url, { ca: cert, servername: 'elsewhere.example' });
  client.start();
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_TLS_FAILED');
});

test('a redirect from TLS to plaintext is refused', async (t) => {
  const server = await tlsServer(t);
  const { pin } = await testCert();
  const { client, errors } = makeClient(t, server.url, { pin });
  client.start();
  const conn = await server.next();
  await conn.accept();
  conn.send({ type: 'goaway', reason: 'redirect', redirect: 'tcp://127.0.0.1:9' });
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_BAD_URL');
  assert.equal(client.currentUrl, server.url);
});
