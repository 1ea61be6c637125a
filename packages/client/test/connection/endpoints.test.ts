/**
 * Several endpoints: the rotation itself (order, rounds, names with several addresses), the constructor's
 * checks, and a DeviceClient failing over between fake servers on loopback under a ManualClock — where a
 * step that needs no clock advance proves that no back-off was waited.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { FakeServer } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { seededRandom, waitForState } from '../helpers/wait.js';
import { ClientError, DeviceClient } from '../../src/index.js';
import { EndpointRotation, parseEndpoints, shuffled } from '../../src/connection/endpoints.js';

const A = 'tcp://127.0.0.1:7001';
const B = 'tcp://127.0.0.1:7002';
const C = 'tcp://127.0.0.1:7003';

function rotation(urls: string[], random: () => number, lookup?: (host: string) => Promise<string[]>) {
  return new EndpointRotation(parseEndpoints(undefined, urls), random, lookup);
}

/** A tcp URL on 127.0.0.1 where nothing listens (a port that was just free). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `tcp://127.0.0.1:${port}`;
}

async function liveServer(t: TestContext): Promise<FakeServer> {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  return server;
}

test('constructor: url or urls, never both or neither, each URL checked, no duplicates', () => {
  const base = { deviceId: 'device-1', credential: 'secret-1' };
  const code = (options: object): string | undefined => {
    try {
      new DeviceClient({ ...base, ...options });
    } catch (error) {
      assert.ok(error instanceof ClientError);
      return error.code;
    }
    return undefined;
  };
  assert.equal(code({}), 'LP_CLIENT_ENDPOINTS_INVALID');
  assert.equal(code({ urls: [] }), 'LP_CLIENT_ENDPOINTS_INVALID');
  assert.equal(code({ url: A, urls: [B] }), 'LP_CLIENT_ENDPOINTS_INVALID');
  assert.equal(code({ urls: [A, 'tcp://127.0.0.1:7001/'] }), 'LP_CLIENT_ENDPOINTS_INVALID');
  assert.equal(code({ urls: [A, 'ftp://127.0.0.1:21'] }), 'LP_CLIENT_BAD_URL');
  assert.equal(code({ urls: [A, 42] }), 'LP_CLIENT_BAD_URL');
  assert.equal(code({ url: A }), undefined);
  assert.equal(code({ urls: [A, B, C] }), undefined);
});

test('a round: every endpoint once, in the order the random source chose, then the back-off', () => {
  const r = rotation([A, B, C], seededRandom(7));
  const order = r.endpoints.map((u) => u.href);
  assert.deepEqual([...order].sort(), [A, B, C]);
  assert.equal(r.current.href, order[0]);
  assert.equal(r.failed(), false);
  assert.equal(r.current.href, order[1]);
  assert.equal(r.failed(), false);
  assert.equal(r.current.href, order[2]);
  assert.equal(r.failed(), true, 'three failures in a row end the round');
  assert.equal(r.current.href, order[0]);
  // A welcome starts the count again: the next round is three more failures, wherever it starts.
  assert.equal(r.failed(), false);
  r.connected();
  assert.equal(r.failed(), false);
  assert.equal(r.failed(), false);
  assert.equal(r.failed(), true);
});

test('one endpoint: every failure is a full round, as before there were several', () => {
  const r = rotation([A], seededRandom(1));
  assert.equal(r.failed(), true);
  assert.equal(r.failed(), true);
  assert.equal(r.current.href, A);
});

test('when a node dies its clients spread over the others instead of all moving to the same one', () => {
  const random = seededRandom(2026);
  const next = new Map<string, Map<string, number>>();
  for (let i = 0; i < 600; i++) {
    const r = rotation([A, B, C], random);
    const first = r.current.href;
    r.failed();
    const counts = next.get(first) ?? new Map<string, number>();
    counts.set(r.current.href, (counts.get(r.current.href) ?? 0) + 1);
    next.set(first, counts);
  }
  assert.equal(next.size, 3, 'clients start on every endpoint');
  for (const [first, counts] of next) {
    assert.equal(counts.has(first), false);
    // Each of the two others takes a fair share of a dead node's clients (binomial; ±4σ is far inside).
    const shares = [...counts.values()];
    assert.equal(shares.length, 2, `clients of ${first} move to both others`);
    const total = shares.reduce((a, b) => a + b, 0);
    for (const share of shares) assert.ok(share > total * 0.3, `${first}: ${shares.join('/')}`);
  }
});

test('shuffled is a permutation and uses the random source', () => {
  assert.deepEqual(
    shuffled([1, 2, 3, 4], () => 0),
    [2, 3, 4, 1],
  );
  assert.deepEqual(
    shuffled([1, 2, 3, 4], () => 0.999),
    [1, 2, 3, 4],
  );
});

test('a name on tls/tcp is every address it resolves to, each a target of the round', async () => {
  const looked: string[] = [];
  const lookup = (host: string): Promise<string[]> => {
    looked.push(host);
    return Promise.resolve(['10.0.0.1', '10.0.0.2', '10.0.0.1']);
  };
  const r = rotation(['tcp://push.example:7001', 'ws://push.example:7100/v1/connect'], () => 0, lookup);
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const target = await r.target();
    seen.push(target.address ?? target.url.href);
    assert.equal(r.failed(), i === 2, `failure ${i + 1} of 3`);
  }
  // Duplicates from the resolver count once; ws/wss is resolved by the WebSocket itself.
  assert.deepEqual(seen.sort(), ['10.0.0.1', '10.0.0.2', 'ws://push.example:7100/v1/connect']);
  assert.deepEqual(looked, ['push.example']);
  // The next round resolves again: the set of addresses may have changed.
  while (r.current.scheme !== 'tcp') r.failed();
  await r.target();
  assert.deepEqual(looked, ['push.example', 'push.example']);
});

test('a name that does not resolve fails like a refused connection', async () => {
  const r = rotation(
    ['tcp://nowhere.example:7001'],
    () => 0,
    () =>
      Promise.reject(
        Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' }),
      ),
  );
  await assert.rejects(r.target(), { code: 'LP_CLIENT_CONNECT_FAILED' });
});

test('client: a refused endpoint is skipped at once; all refused waits the back-off', async (t) => {
  const dead1 = await deadUrl();
  const dead2 = await deadUrl();
  const server = await liveServer(t);
  const urls = [dead1, dead2, server.url];
  // random() = 0.5: the round's back-off is half its first window, 250 ms (0 would be no wait at all).
  const { client, clock, errors } = makeClient(t, urls);
  // The client's order, from the same random source: the dead ones before the live one fail first.
  const refusedFirst = shuffled(urls, () => 0.5).indexOf(server.url);
  client.start();
  // No clock advance: every refusal moved on without waiting.
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  assert.equal(client.currentUrl, server.url);
  assert.deepEqual(
    errors.map((e) => e.code),
    Array(refusedFirst).fill('LP_CLIENT_CONNECT_FAILED'),
  );

  // The live one goes away too: it and the dead two fail at once, a full round is over, and the back-off
  // is the only timer left before the next round.
  await server.close();
  while (errors.length < refusedFirst + 3) await once(client, 'connectionError');
  await waitForState(client, 'backoff');
  assert.equal(clock.pending, 1);
  const refused = errors.length;
  clock.advance(250);
  await once(client, 'connectionError');
  assert.equal(errors.length, refused + 1);
});

test('client: a name resolving to several addresses is tried address by address', async (t) => {
  const server = await liveServer(t);
  const port = new URL(server.url).port;
  const lookups: string[] = [];
  const { client, errors } = makeClient(t, `tcp://push.example:${port}`, {
    random: () => 0,
    // 127.0.0.2 shares the port number, but nothing listens there.
    lookup: (host) => {
      lookups.push(host);
      return Promise.resolve(['127.0.0.1', '127.0.0.2']);
    },
  });
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  assert.deepEqual(lookups, ['push.example']);
  assert.deepEqual(
    errors.map((e) => e.code),
    ['LP_CLIENT_CONNECT_FAILED'],
  );
  assert.match(errors[0]?.message ?? '', /127\.0\.0\.2/);
});

test('client: goaway moves to the next endpoint after the hint; replaced still stops', async (t) => {
  const first = await liveServer(t);
  const second = await liveServer(t);
  const { client, clock } = makeClient(t, [first.url, second.url], { random: () => 0 });
  client.start();
  const order = client.currentUrl === first.url ? [first, second] : [second, first];
  const [a, b] = order as [FakeServer, FakeServer];
  const connA = await a.next();
  await connA.accept();
  await waitForState(client, 'connected');
  connA.send({ type: 'goaway', reason: 'shutdown', reconnectAfterMs: 1_000 });
  await waitForState(client, 'backoff');
  assert.equal(client.currentUrl, b.url);
  clock.advance(1_000);
  const connB = await b.next();
  await connB.accept({ sessionId: 'session-2' });
  await waitForState(client, 'connected');
  connB.send({ type: 'goaway', reason: 'replaced' });
  await waitForState(client, 'stopped');
});

test('client: a redirect is a detour; when it fails the walk resumes at the next endpoint', async (t) => {
  const first = await liveServer(t);
  const second = await liveServer(t);
  const elsewhere = await liveServer(t);
  const { client, clock } = makeClient(t, [first.url, second.url], { random: () => 0 });
  client.start();
  const [a, b] = client.currentUrl === first.url ? [first, second] : [second, first];
  const connA = await a.next();
  await connA.accept();
  await waitForState(client, 'connected');
  connA.send({ type: 'goaway', reason: 'redirect', redirect: elsewhere.url, reconnectAfterMs: 0 });
  await waitForState(client, 'backoff');
  assert.equal(client.currentUrl, elsewhere.url);
  clock.advance(0);
  const detour = await elsewhere.next();
  await detour.accept();
  await waitForState(client, 'connected');
  await elsewhere.close();
  // The detour's loss is no round failure: the next attempt goes to b at once.
  const connB = await b.next();
  await connB.accept();
  await waitForState(client, 'connected');
  assert.equal(client.currentUrl, b.url);
});
