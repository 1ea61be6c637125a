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

test('ws: hello, heartbeat and push acks over WebSocket messages', async (t) => {
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

test('ws: a server close leads to back-off and a reconnect', async (t) => {
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

test('wss: a matching pin connects; a wrong pin is refused before the hello', async (t) => {
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

test('wss: CA mode with the ws client', async (t) => {
  const s = await server(t, 'wss');
  const { cert } = await testCert();
  const { client } = makeClient(t, s.url, { webSocket, ca: cert, servername: 'localhost' });
  client.start();
  await (await s.next()).accept();
  await waitForState(client, 'connected');
});

const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

test('the global WebSocket is used when present (Node 22+)', { skip: !hasGlobalWebSocket }, async (t) => {
  const s = await server(t, 'ws');
  const { client } = makeClient(t, s.url);
  client.start();
  await (await s.next()).accept();
  await waitForState(client, 'connected');
});

/**
 * A WHATWG-shaped WebSocket (what Node 22+ has built in): only addEventListener, no `on`, no upgrade
 * event, no TLS options. Wraps the `ws` client so the test runs on Node 20 too.
 */
class WhatwgLike {
  private readonly inner: WebSocket;
  constructor(url: string) {
    this.inner = new WebSocket(url);
  }
  set binaryType(value: 'arraybuffer') {
    this.inner.binaryType = value;
  }
  get bufferedAmount(): number {
    return this.inner.bufferedAmount;
  }
  get readyState(): number {
    return this.inner.readyState;
  }
  send(data: Uint8Array | string): void {
    this.inner.send(data);
  }
  close(code?: number): void {
    this.inner.close(code);
  }
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void {
    this.inner.addEventListener(type, listener as () => void);
  }
}

test('a WHATWG-shaped WebSocket works for ws://', async (t) => {
  const s = await server(t, 'ws');
  const { client } = makeClient(t, s.url, { webSocket: WhatwgLike as unknown as WebSocketConstructor });
  client.start();
  const conn = await s.next();
  await conn.accept();
  await waitForState(client, 'connected');
  conn.send({ type: 'push', id: 'x', seq: 1, kind: 'alert', payload: 'hi', priority: 10, expiration: 0 });
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['x'], through: 1 });
});

test('a pin is never skipped: a WebSocket that cannot report the certificate is refused', async (t) => {
  const s = await server(t, 'wss');
  const { pin } = await testCert();
  const { client, errors } = makeClient(t, s.url, {
    webSocket: WhatwgLike as unknown as WebSocketConstructor,
    pin,
  });
  client.start();
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_TLS_OPTIONS_UNSUPPORTED');
  assert.ok(s.all.every((c) => c.received.length === 0));
});
