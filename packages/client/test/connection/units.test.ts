/** The pure parts of the connection: back-off, the dedupe window, pins, URLs and option checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Backoff,
  backoffCeiling,
  ClientError,
  DedupeWindow,
  DeviceClient,
  decodePins,
  parseServerUrl,
  spkiPin,
} from '../../src/index.js';
import { seededRandom } from '../helpers/wait.js';
import { testCert } from '../helpers/tls.js';

test('back-off delays stay inside the full-jitter window and respect the cap', () => {
  const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 }, seededRandom(42));
  const delays: number[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    const ceiling = Math.min(30_000, 500 * 2 ** attempt);
    const delay = backoff.next();
    assert.ok(delay >= 0 && delay < ceiling, `attempt ${attempt}: ${delay} outside [0, ${ceiling})`);
    delays.push(delay);
  }
  // Full jitter: the delays are spread, not pinned to the ceiling.
  assert.ok(new Set(delays.slice(10)).size > 20);
  assert.equal(backoff.attempts, 40);
});

test('back-off windows double from the initial value up to the cap, and reset', () => {
  const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 }, () => 0.999_999);
  const delays = Array.from({ length: 9 }, () => backoff.next());
  assert.deepEqual(delays, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
  backoff.reset();
  assert.equal(backoff.next(), 499);
  assert.equal(new Backoff({}, () => 0).next(), 0);
  assert.equal(backoffCeiling(2000, 500, 30_000), 30_000);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 5 }), RangeError);
});

test('the same seed gives the same back-off sequence', () => {
  const a = new Backoff({}, seededRandom(7));
  const b = new Backoff({}, seededRandom(7));
  for (let i = 0; i < 10; i++) assert.equal(a.next(), b.next());
});

test('the dedupe window forgets the least recently seen id', () => {
  const window = new DedupeWindow(3);
  for (const id of ['a', 'b', 'c']) window.add(id);
  assert.equal(window.has('a'), true); // now b is the oldest
  window.add('d');
  assert.equal(window.size, 3);
  assert.equal(window.has('b'), false);
  assert.equal(window.has('a'), true);
  assert.equal(window.has('c'), true);
  assert.equal(window.has('d'), true);
  assert.throws(() => new DedupeWindow(0), RangeError);
});

test('the dedupe window stays bounded under many ids', () => {
  const window = new DedupeWindow(100);
  for (let i = 0; i < 10_000; i++) window.add(`id-${i}`);
  assert.equal(window.size, 100);
  assert.equal(window.has('id-9999'), true);
  assert.equal(window.has('id-9899'), false);
});

test('pins must be base64 SHA-256 hashes', async () => {
  const { cert, pin } = await testCert();
  assert.equal(spkiPin(cert), pin);
  assert.equal(Buffer.from(pin, 'base64').length, 32);
  assert.equal(decodePins(pin).length, 1);
  assert.equal(decodePins([pin, pin]).length, 2);
  assert.deepEqual(decodePins(undefined), []);
  assert.throws(() => decodePins('not a pin'), RangeError);
  assert.throws(() => decodePins(Buffer.alloc(20).toString('base64')), RangeError);
  assert.throws(() => decodePins([]), RangeError);
});

test('server URLs: four schemes, tls/tcp need a port', () => {
  assert.deepEqual(parseServerUrl('tls://push.local:5223'), {
    scheme: 'tls',
    host: 'push.local',
    port: 5223,
    href: 'tls://push.local:5223',
  });
  assert.equal(parseServerUrl('tcp://[::1]:9000').host, '::1');
  assert.equal(parseServerUrl('wss://push.local/push').port, 443);
  assert.equal(parseServerUrl('ws://push.local:8080/push').port, 8080);
  for (const bad of ['http://x:1', 'tls://push.local', 'nonsense', 'tcp://:80']) {
    assert.throws(
      () => parseServerUrl(bad),
      (e: unknown) => e instanceof ClientError && e.code === 'LP_CLIENT_BAD_URL',
      bad,
    );
  }
});

test('the constructor rejects bad URLs and ws URLs without a WebSocket', () => {
  const base = { deviceId: 'd', credential: 'c' };
  assert.throws(
    () => new DeviceClient({ ...base, url: 'http://x:1' }),
    (e: unknown) => e instanceof ClientError && e.code === 'LP_CLIENT_BAD_URL',
  );
  assert.throws(() => new DeviceClient({ ...base, url: 'tcp://h:1', maxFrameBytes: 10 }), RangeError);
  assert.throws(() => new DeviceClient({ ...base, url: 'tcp://h:1', connectTimeoutMs: 0 }), RangeError);
  assert.throws(() => new DeviceClient({ ...base, url: 'tcp://h:1', deviceId: 'has space' }), RangeError);
  const g = globalThis as { WebSocket?: unknown };
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  // Node 22+ has a global WebSocket; hide it to see the Node 20 behaviour everywhere.
  Object.defineProperty(globalThis, 'WebSocket', { value: undefined, configurable: true, writable: true });
  try {
    assert.throws(
      () => new DeviceClient({ ...base, url: 'ws://127.0.0.1:1/push' }),
      (e: unknown) =>
        e instanceof ClientError &&
        e.code === 'LP_CLIENT_NO_WEBSOCKET' &&
        /options\.webSocket/.test(e.message),
    );
  } finally {
    if (saved) Object.defineProperty(globalThis, 'WebSocket', saved);
    else delete g.WebSocket;
  }
});

test('the built-in WebSocket cannot carry a pin', () => {
  class FakeWhatwg {}
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  Object.defineProperty(globalThis, 'WebSocket', { value: FakeWhatwg, configurable: true, writable: true });
  try {
    assert.throws(
      () =>
        new DeviceClient({
          deviceId: 'd',
          credential: 'c',
          url: 'wss://127.0.0.1:1/push',
          pin: Buffer.alloc(32).toString('base64'),
        }),
      (e: unknown) => e instanceof ClientError && e.code === 'LP_CLIENT_TLS_OPTIONS_UNSUPPORTED',
    );
  } finally {
    if (saved) Object.defineProperty(globalThis, 'WebSocket', saved);
    else delete (globalThis as { WebSocket?: unknown }).WebSocket;
  }
});
