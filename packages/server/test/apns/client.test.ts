// ApnsClient against the local APNs test peer over real loopback sockets: bytes and ids pass through,
// tokens refresh on schedule, GOAWAY leads to a new session, back-off and no-retry rules, the proxy path.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { ManualClock, type Clock } from '@localpush/protocol';
import {
  ApnsClient,
  type ApnsClientError,
  type ApnsClientOptions,
  type ApnsGoawayEvent,
} from '../../src/apns/index.js';
import { createApnsTestPeer, generatePeerCertificate } from '../../src/testing.js';
import { DEVICE, RecordingClock, makeKey, startRelay, type TestKey } from './helpers.js';

let tls: { cert: string; key: string };
let key: TestKey;

before(async () => {
  tls = await generatePeerCertificate();
  key = makeKey();
});

async function setup(clock: Clock, extra: Partial<ApnsClientOptions> = {}) {
  const peer = await createApnsTestPeer({
    keys: [{ teamId: key.teamId, keyId: key.keyId, pem: key.publicPem }],
    clock,
    tls,
  });
  const client = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    environment: 'development',
    endpoints: { development: peer.url },
    ca: tls.cert,
    clock,
    pingIdleMs: 0,
    requestTimeoutMs: 3_600_000,
    connectTimeoutMs: 3_600_000,
    ...extra,
  });
  return {
    peer,
    client,
    async [Symbol.asyncDispose]() {
      await client.close();
      await peer.close();
    },
  };
}

const payload = (text: string): Buffer => Buffer.from(`{"aps":{"alert":${JSON.stringify(text)}},  "x" : 1 }`);

test('happy path: payload bytes identical, apns-id echoed, headers passed through', async () => {
  await using t = await setup(new RecordingClock());
  const body = payload('héllo');
  const id = '0b2e5a3c-1d4f-4e6a-9b8c-7d6e5f4a3b2c';
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app',
    pushType: 'alert',
    apnsId: id,
    expiration: 0,
    priority: 5,
    collapseId: 'c-1',
    payload: body,
  });
  assert.equal(result.status, 200);
  assert.equal(result.apnsId, id);
  assert.equal(result.attempts, 1);
  assert.ok(result.uniqueId !== undefined, 'development peer sends apns-unique-id');
  const [n] = t.peer.notifications;
  assert.ok(n);
  assert.deepEqual(n.body, body);
  assert.equal(n.apnsId, id);
  assert.equal(n.expiration, 0);
  assert.equal(n.priority, 5);
  assert.equal(n.collapseId, 'c-1');
  assert.equal(n.headers['apns-expiration'], '0');
});

test('absent expiration and priority are omitted, not defaulted', async () => {
  await using t = await setup(new RecordingClock());
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app.voip',
    pushType: 'voip',
    payload: payload('x'),
  });
  assert.equal(result.status, 200);
  const [n] = t.peer.notifications;
  assert.ok(n);
  assert.equal(n.headers['apns-expiration'], undefined);
  assert.equal(n.expiration, undefined);
  assert.equal(n.headers['apns-priority'], undefined);
});

test('provider token: reused for 50 minutes, replaced after, on the same connection', async () => {
  const clock = new ManualClock();
  await using t = await setup(clock);
  const send = () =>
    t.client.send({
      deviceToken: DEVICE,
      topic: 'com.example.app',
      pushType: 'alert',
      payload: payload('t'),
    });
  assert.equal((await send()).status, 200);
  clock.advance(49 * 60_000);
  assert.equal((await send()).status, 200);
  clock.advance(60_000);
  assert.equal((await send()).status, 200);
  clock.advance(30 * 60_000);
  assert.equal((await send()).status, 200);
  const auths = t.peer.notifications.map((n) => n.authorization);
  assert.equal(auths[0], auths[1], 'same token before 50 minutes');
  assert.notEqual(auths[1], auths[2], 'new token at 50 minutes');
  assert.equal(auths[2], auths[3]);
  assert.equal(new Set(t.peer.notifications.map((n) => n.connection)).size, 1, 'one connection throughout');
  assert.equal(t.peer.responses.filter((r) => r.status !== 200).length, 0, 'no TooManyProviderTokenUpdates');
});

test('ExpiredProviderToken: the token is re-signed once and the request retried', async () => {
  const clientClock = new ManualClock();
  // The peer's clock runs 61 minutes ahead: the client's token looks expired to it.
  const peerClock = new ManualClock(clientClock.now() + 61 * 60_000);
  const peer = await createApnsTestPeer({
    keys: [{ teamId: key.teamId, keyId: key.keyId, pem: key.privatePem }],
    clock: peerClock,
    tls,
  });
  const client = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    endpoints: { production: peer.url },
    ca: tls.cert,
    clock: clientClock,
    pingIdleMs: 0,
  });
  try {
    const send = () =>
      client.send({
        deviceToken: DEVICE,
        topic: 'com.example.app',
        pushType: 'alert',
        payload: payload('e'),
      });
    const first = await send();
    // A token younger than 20 minutes is not replaced: that would earn TooManyProviderTokenUpdates.
    assert.equal(first.status, 403);
    assert.equal(first.reason, 'ExpiredProviderToken');
    clientClock.advance(25 * 60_000);
    const second = await send();
    assert.equal(second.status, 200);
    assert.equal(second.attempts, 2, 'the rejected request and its retry with the new token');
    assert.deepEqual(
      peer.responses.map((r) => r.reason ?? r.status),
      ['ExpiredProviderToken', 'ExpiredProviderToken', 200],
    );
  } finally {
    await client.close();
    await peer.close();
  }
});

for (const [label, code] of [
  ['NO_ERROR', 0],
  ['INTERNAL_ERROR', 2],
] as const) {
  test(`GOAWAY (${label}): the refused request is retried on a new session and succeeds`, async () => {
    const goaways: ApnsGoawayEvent[] = [];
    await using t = await setup(new RecordingClock(), { onGoaway: (e) => goaways.push(e) });
    const send = (n: number) =>
      t.client.send({
        deviceToken: DEVICE,
        topic: 'com.example.app',
        pushType: 'alert',
        payload: payload(`g${n}`),
      });
    assert.equal((await send(1)).status, 200);
    t.peer.script.goAwayOnNextRequest('Shutdown', code);
    const result = await send(2);
    assert.equal(result.status, 200);
    assert.equal(result.attempts, 1, 'a refused request is not an attempt');
    assert.equal(t.peer.connectionCount, 2);
    assert.deepEqual(
      goaways.map((g) => [g.code, g.lastStreamId, g.reason]),
      [[code, 1, 'Shutdown']],
    );
    assert.deepEqual(
      t.peer.notifications.map((n) => [n.connection, n.body.toString()]),
      [
        [1, payload('g1').toString()],
        [2, payload('g2').toString()],
      ],
    );
    assert.equal((await send(3)).status, 200, 'later sends use the new session');
    assert.equal(t.peer.connectionCount, 2);
  });
}

test('concurrent sends on a fresh connection (peer allows one stream until authenticated)', async () => {
  await using t = await setup(new RecordingClock());
  const results = await Promise.all(
    Array.from({ length: 25 }, (_, i) =>
      t.client.send({
        deviceToken: DEVICE,
        topic: 'com.example.app',
        pushType: 'alert',
        payload: payload(`c${i}`),
      }),
    ),
  );
  assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  assert.equal(t.peer.notifications.length, 25);
  assert.equal(t.peer.connectionCount, 1);
});

test('a proxy refusing CONNECT fails with CONNECT_FAILED after the bounded attempts', async () => {
  await using t = await setup(new RecordingClock());
  const proxy: Server = createServer();
  proxy.on('connect', (_req, socket: Socket) => {
    socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const clock = new RecordingClock();
  const client = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    endpoints: { production: t.peer.url },
    ca: tls.cert,
    clock,
    pingIdleMs: 0,
    connectTimeoutMs: 3_600_000,
    maxAttempts: 2,
    random: () => 0.5,
    proxy: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
  });
  try {
    await assert.rejects(
      client.send({
        deviceToken: DEVICE,
        topic: 'com.example.app',
        pushType: 'alert',
        payload: payload('x'),
      }),
      (e: ApnsClientError) => e.code === 'CONNECT_FAILED' && !e.maybeDelivered && /407/.test(e.message),
    );
    assert.deepEqual(clock.delays, [500]);
    assert.equal(t.peer.connectionCount, 0);
  } finally {
    await client.close();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});

test('503 and 429: capped exponential back-off, then success', async () => {
  const clock = new RecordingClock();
  await using t = await setup(clock, {
    maxAttempts: 4,
    // Full jitter pinned to the top of the window.
    random: () => 1,
    backoffBaseMs: 1000,
  });
  t.peer.script.fail('ServiceUnavailable', 2);
  t.peer.script.fail('TooManyRequests', 1);
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app',
    pushType: 'alert',
    payload: payload('b'),
  });
  assert.equal(result.status, 200);
  assert.equal(result.attempts, 4);
  assert.deepEqual(clock.delays, [1000, 2000, 4000]);
  assert.equal(t.peer.notifications.length, 1);
});

test('500 beyond maxAttempts: the last error is returned', async () => {
  const clock = new RecordingClock();
  await using t = await setup(clock, { maxAttempts: 2, backoffMaxMs: 1500, random: () => 0.5 });
  t.peer.script.fail('InternalServerError', 5);
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app',
    pushType: 'alert',
    payload: payload('f'),
  });
  assert.equal(result.status, 500);
  assert.equal(result.reason, 'InternalServerError');
  assert.equal(result.attempts, 2);
  assert.deepEqual(clock.delays, [500]);
});

test('410 Unregistered: not retried, timestamp relayed', async () => {
  const clock = new RecordingClock();
  await using t = await setup(clock);
  t.peer.script.unregister(DEVICE, 1_699_999_999_123);
  const id = '11111111-2222-4333-8444-555555555555';
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app',
    pushType: 'alert',
    apnsId: id,
    payload: payload('u'),
  });
  assert.deepEqual(result, {
    status: 410,
    apnsId: id,
    reason: 'Unregistered',
    timestamp: 1_699_999_999_123,
    attempts: 1,
  });
  assert.equal(t.peer.responses.length, 1);
  assert.deepEqual(clock.delays, []);
});

test('400 BadDeviceToken-class errors are final', async () => {
  await using t = await setup(new RecordingClock());
  const result = await t.client.send({
    deviceToken: DEVICE,
    topic: 'com.example.app',
    pushType: 'background',
    priority: 10,
    payload: payload('p'),
  });
  assert.equal(result.status, 400);
  assert.equal(result.reason, 'BadPriority');
  assert.equal(t.peer.responses.length, 1);
});

test('HTTP CONNECT proxy: the client reaches the peer through a tunnel', async () => {
  await using t = await setup(new RecordingClock());
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = netConnect(Number(port), host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(client).add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const client = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    environment: 'development',
    endpoints: { development: t.peer.url },
    ca: tls.cert,
    clock: new ManualClock(), // same epoch as the peer's clock; no timer needs to fire
    pingIdleMs: 0,
    proxy: `http://127.0.0.1:${proxyPort}`,
  });
  try {
    const result = await client.send({
      deviceToken: DEVICE,
      topic: 'com.example.app',
      pushType: 'alert',
      payload: payload('p'),
    });
    assert.equal(result.status, 200);
    assert.deepEqual(tunnels, [`127.0.0.1:${t.peer.port}`]);
    assert.equal(t.peer.notifications.length, 1);
  } finally {
    await client.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});

test('PING when idle keeps the session; a session whose PING goes unanswered is dropped', async () => {
  const clock = new ManualClock();
  await using t = await setup(clock);
  const relay = await startRelay(t.peer.port);
  const client = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    environment: 'development',
    endpoints: { development: `https://127.0.0.1:${relay.port}` },
    ca: tls.cert,
    clock,
    pingIdleMs: 60 * 60_000,
    pingTimeoutMs: 10_000,
  });
  try {
    const send = () =>
      client.send({
        deviceToken: DEVICE,
        topic: 'com.example.app',
        pushType: 'alert',
        payload: payload('i'),
      });
    assert.equal((await send()).status, 200);
    clock.advance(59 * 60_000);
    assert.equal(t.peer.pingCount, 0, 'no PING before an hour idle');
    clock.advance(60_000);
    await t.peer.waitForPings(1);
    assert.equal((await send()).status, 200);
    assert.equal(t.peer.connectionCount, 1, 'the answered PING kept the session');
    relay.freeze(); // the path goes dead without a FIN, as a NAT timeout does
    clock.advance(60 * 60_000);
    assert.equal(client.sessionCount, 1, 'PING sent, not yet overdue');
    clock.advance(10_000);
    assert.equal(client.sessionCount, 0, 'unanswered PING drops the session');
  } finally {
    await client.close();
    await relay.close();
  }
});
