/**
 * The WebSocket transport against a `ws` WebSocketServer: the same protocol, one frame per message, and
 * SPKI pinning over wss with the `ws` client (the built-in WHATWG WebSocket exposes no TLS options).
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { FakeServer } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { testCert } from '../helpers/tls.js';
import { waitForState } from '../helpers/wait.js';
import type { WebSocketConstructor } from '../../src/index.js';

const webSocket = WebSocket as unknown as WebSocketConstructor;

async function server(t: TestContext, kind: 'ws' | 'wss'): Promise<FakeServer> {
  const s = await FakeServer.start(kind, kind === 'wss' ? await testCert() : undefined);
  t.after(() => s.close());
  return s;
}

void test('ws: hello, heartbeat and push acks over WebSocket messages', async (t) => {
  const s = await server(t, 'ws');
  const { client } = makeClient(t, s.url, { webSocket, resumeFrom: 2 });
  client.start();
  const conn = await s.next();
  const hello = await conn.accept();
  assert.equal(hello.type === 'hello' && hello.resume?.lastSeq, 2);
  await waitForState(client, 'connected');
  conn.send({ type: 'heartbeat', seq: 1, serverTime: 1 });
  assert.deepEqual(await conn.expect('heartbeat_ack'), { type: 'heartbeat_ack', seq: 1 });
  conn.send(
    { type: 'push', id: 'w1', seq: 3, kind: 'alert', payload: null, priority: 5, expiration: 0 },
    { type: 'push', id: 'w2', seq: 4, kind: 'alert', payload: [1], priority: 5, expiration: 0 },
  );
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['w1', 'w2'], through: 4 });
});

void test('ws: a server close leads to back-off and a reconnect', async (t) => {
  const s = await server(t, 'ws');
  const { client, clock, errors } = makeClient(t, s.url, { webSocket });
  client.start();
  const first = await s.next();
  await first.accept();
  await waitForState(client, 'connected');
  const backoff = waitForState(client, 'backoff');
  first.end();
  await backoff;
  assert.equal(errors[0]?.code, 'LP_CLIENT_CONNECTION_LOST');
  clock.advance(250);
  await (await s.next()).expect('hello');
});

void test('wss: a matching pin connects; a wrong pin is refused before the hello', async (t) => {
  const s = await server(t, 'wss');
  const { pin } = await testCert();
  const good = makeClient(t, s.url, { webSocket, pin });
  good.client.start();
  await (await s.next()).accept();
  await waitForState(good.client, 'connected');

  const wrong = (await testCert('other')).pin;
  const bad = makeClient(t, s.url, { webSocket, pin: wrong });
  bad.client.start();
  await waitForState(bad.client, 'backoff');
  assert.equal(bad.errors[0]?.code, 'LP_CLIENT_PIN_MISMATCH');
  // The server finished its side of the upgrade, but the client hung up before saying anything.
  await Promise.all(s.all.slice(1).map((c) => c.closed));
  assert.ok(
    s.all.slice(1).every((c) => c.received.length === 0),
    'no hello reached the server',
  );
});

void test('wss: CA mode with the ws client', async (t) => {
  const s = await server(t, 'wss');
  const { cert } = await testCert();
  const { client } = makeClient(t, s.url, { webSocket, ca: cert, servername: 'localhost' });
  client.start();
  await (await s.next()).accept();
  await waitForState(client, 'connected');
});

const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

void test(
  'the global WebSocket is used when present (Node 22+)',
  { skip: !hasGlobalWebSocket },
  async (t) => {
    const s = await server(t, 'ws');
    const { client } = makeClient(t, s.url);
    client.start();
    await (await s.next()).accept();
    await waitForState(client, 'connected');
  },
);
