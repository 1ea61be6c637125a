/**
 * DeviceClient end to end over real loopback TCP against the scriptable fake server: hello, heartbeats,
 * pushes and acks, duplicates, and the ways a connection ends.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { encodeMessage, type Goaway, type Push } from '@localpush/protocol';
import { FakeServer, welcome } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { deferred, recordStates, waitForState } from '../helpers/wait.js';
import type { StopReason } from '../../src/index.js';

async function tcpServer(t: TestContext): Promise<FakeServer> {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  return server;
}

function push(id: string, seq: number): Push {
  return { type: 'push', id, seq, kind: 'message', payload: { text: id }, priority: 10, expiration: 0 };
}

test('hello carries identity, capabilities, agent and the resume cursor', async (t) => {
  const server = await tcpServer(t);
  const { client } = makeClient(t, server.url, { resumeFrom: 41, capabilities: ['voip'], agent: 'test/1' });
  const states = recordStates(client);
  client.start();
  const conn = await server.next();
  const hello = await conn.expect('hello');
  assert.deepEqual(hello, {
    type: 'hello',
    version: 1,
    deviceId: 'device-1',
    credential: 'secret-1',
    capabilities: ['voip'],
    resume: { lastSeq: 41 },
    agent: 'test/1',
  });
  conn.send(welcome({ sessionId: 'abc' }));
  await waitForState(client, 'connected');
  assert.equal(client.sessionId, 'abc');
  assert.deepEqual(states, ['connecting', 'handshaking', 'connected']);
});

test('a first-time hello has no resume cursor', async (t) => {
  const server = await tcpServer(t);
  const { client } = makeClient(t, server.url);
  client.start();
  const hello = await (await server.next()).expect('hello');
  assert.equal(hello.resume, undefined);
  assert.deepEqual(hello.capabilities, []);
});

test('every heartbeat is answered at once and recorded', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  clock.advance(700);
  conn.send({ type: 'heartbeat', seq: 7, serverTime: 1 });
  assert.deepEqual(await conn.expect('heartbeat_ack'), { type: 'heartbeat_ack', seq: 7 });
  assert.equal(client.lastHeartbeatAt, clock.now());
  conn.send({ type: 'heartbeat', seq: 8, serverTime: 2 });
  assert.deepEqual(await conn.expect('heartbeat_ack'), { type: 'heartbeat_ack', seq: 8 });
});

test('pushes are acked only after onPush resolved, in one batched ack with through', async (t) => {
  const server = await tcpServer(t);
  const gate = deferred();
  const firstCalled = deferred();
  const handled: string[] = [];
  const { client } = makeClient(t, server.url, {
    onPush: async (p) => {
      handled.push(p.id);
      firstCalled.resolve();
      await gate.promise;
    },
  });
  const emitted: string[] = [];
  client.on('push', (p) => emitted.push(p.id));
  client.start();
  const conn = await server.next();
  await conn.accept();
  conn.send(push('m1', 1), push('m2', 2), push('m3', 3));
  await firstCalled.promise;
  // Handlers run one at a time, in order; nothing is acked while the first is still working.
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(handled, ['m1']);
  assert.deepEqual(
    conn.received.map((m) => m.type),
    ['hello'],
  );
  gate.resolve();
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['m1', 'm2', 'm3'], through: 3 });
  assert.deepEqual(handled, ['m1', 'm2', 'm3']);
  assert.deepEqual(emitted, ['m1', 'm2', 'm3']);
  assert.equal(client.lastSeq, 3);
});

test('a duplicate push is dropped but acked again', async (t) => {
  const server = await tcpServer(t);
  const { client } = makeClient(t, server.url);
  const emitted: string[] = [];
  client.on('push', (p) => emitted.push(p.id));
  client.start();
  const conn = await server.next();
  await conn.accept();
  conn.send(push('dup', 1));
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['dup'], through: 1 });
  conn.send(push('dup', 1));
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['dup'], through: 1 });
  assert.deepEqual(emitted, ['dup']);
});

test('a failing handler leaves the push unacked; a redelivery retries it', async (t) => {
  const server = await tcpServer(t);
  let fail = true;
  const { client, errors } = makeClient(t, server.url, {
    onPush: (p) => {
      if (p.id === 'bad' && fail) throw new Error('disk full');
    },
  });
  client.start();
  const conn = await server.next();
  await conn.accept();
  conn.send(push('bad', 1), push('good', 2));
  // 'good' is acked by id, but the cursor cannot pass the unprocessed 'bad'.
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['good'] });
  assert.equal(errors[0]?.code, 'LP_CLIENT_PUSH_HANDLER_FAILED');
  assert.equal(client.lastSeq, undefined);
  fail = false;
  conn.send(push('bad', 1));
  assert.deepEqual(await conn.expect('ack'), { type: 'ack', ids: ['bad'], through: 2 });
  assert.equal(client.lastSeq, 2);
});

test('notices are emitted', async (t) => {
  const server = await tcpServer(t);
  const { client } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  const notice = once(client, 'notice');
  conn.send({ type: 'notice', code: 'queue_overflow', count: 3, message: 'dropped' });
  const [n] = (await notice) as [unknown];
  assert.deepEqual(n, { type: 'notice', code: 'queue_overflow', count: 3, message: 'dropped' });
});

test('when the server closes, the client backs off, reconnects and resumes from its cursor', async (t) => {
  const server = await tcpServer(t);
  const { client, clock, errors } = makeClient(t, server.url);
  client.start();
  const first = await server.next();
  await first.accept();
  first.send(push('a', 5));
  await first.expect('ack');
  const backoff = waitForState(client, 'backoff');
  first.end();
  await backoff;
  assert.equal(errors.at(-1)?.code, 'LP_CLIENT_CONNECTION_LOST');
  clock.advance(249);
  assert.equal(client.state, 'backoff');
  clock.advance(1);
  assert.equal(client.state, 'connecting');
  const second = await server.next();
  const hello = await second.expect('hello');
  assert.deepEqual(hello.resume, { lastSeq: 5 });
});

test('the back-off window grows per failure and resets after a heartbeat', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  // Two failures before the welcome: windows 500 then 1000, so delays of 250 then 500 with random 0.5.
  for (const delay of [250, 500]) {
    const conn = await server.next();
    await conn.expect('hello');
    const backoff = waitForState(client, 'backoff');
    conn.destroy();
    await backoff;
    clock.advance(delay - 1);
    assert.equal(client.state, 'backoff');
    clock.advance(1);
    assert.equal(client.state, 'connecting');
  }
  const conn = await server.next();
  await conn.accept();
  conn.send({ type: 'heartbeat', seq: 1, serverTime: 1 });
  await conn.expect('heartbeat_ack');
  const backoff = waitForState(client, 'backoff');
  conn.destroy();
  await backoff;
  clock.advance(249);
  assert.equal(client.state, 'backoff');
  clock.advance(1);
  assert.equal(client.state, 'connecting');
});

test('a refused connection is reported and retried', async (t) => {
  const server = await FakeServer.start('tcp');
  const url = server.url;
  await server.close();
  const { client, clock, errors } = makeClient(t, url);
  client.start();
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_CONNECT_FAILED');
  clock.advance(250);
  assert.equal(client.state, 'connecting');
  await waitForState(client, 'backoff');
  assert.equal(errors.length, 2);
});

test('no welcome within the connect timeout is a welcome timeout', async (t) => {
  const server = await tcpServer(t);
  const { client, clock, errors } = makeClient(t, server.url, { connectTimeoutMs: 3_000 });
  client.start();
  const conn = await server.next();
  await conn.expect('hello');
  clock.advance(2_999);
  assert.equal(client.state, 'handshaking');
  clock.advance(1);
  assert.equal(client.state, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_WELCOME_TIMEOUT');
  await conn.closed;
});

test('a transport that never completes is a connect timeout', async (t) => {
  // A TLS client against a TCP server that accepts and never answers: the handshake hangs.
  const silent = createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const accepted = once(silent, 'connection');
  t.after(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  const { port } = silent.address() as AddressInfo;
  const { client, clock, errors } = makeClient(t, `tls://127.0.0.1:${port}`);
  client.start();
  const [socket] = (await accepted) as [Socket];
  clock.advance(9_999);
  assert.equal(client.state, 'connecting');
  clock.advance(1);
  assert.equal(client.state, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_CONNECT_TIMEOUT');
  await once(socket, 'close');
});

test('goaway redirect: the client reconnects to the new URL after the hint', async (t) => {
  const server = await tcpServer(t);
  const other = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  const goaway = once(client, 'goaway');
  conn.send({ type: 'goaway', reason: 'redirect', redirect: other.url, reconnectAfterMs: 1_000 });
  const [g] = (await goaway) as [Goaway];
  assert.equal(g.reason, 'redirect');
  await waitForState(client, 'backoff');
  assert.equal(client.currentUrl, other.url);
  // Hint plus jitter: 1000 + 0.5 × 500.
  clock.advance(1_249);
  assert.equal(client.state, 'backoff');
  clock.advance(1);
  const moved = await other.next();
  await moved.expect('hello');
});

test('a redirect to a bad URL is reported and the old URL kept', async (t) => {
  const server = await tcpServer(t);
  const { client, errors } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  conn.send({ type: 'goaway', reason: 'redirect', redirect: 'ftp://nowhere' });
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_CLIENT_BAD_URL');
  assert.equal(client.currentUrl, server.url);
});

test('goaway replaced stops the client instead of fighting the other connection', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  const stopped = once(client, 'stopped');
  conn.send({ type: 'goaway', reason: 'replaced', message: 'newer connection' });
  const [reason] = (await stopped) as [StopReason];
  assert.deepEqual(reason, { kind: 'goaway', reason: 'replaced', message: 'newer connection' });
  assert.equal(client.state, 'stopped');
  assert.equal(clock.pending, 0);
  // reconnect() (the SDK's stale-timer path) brings it back.
  client.reconnect();
  await (await server.next()).expect('hello');
});

test('auth failure stops for good; other server errors are retried', async (t) => {
  const server = await tcpServer(t);
  const { client, clock, errors } = makeClient(t, server.url);
  client.start();
  let conn = await server.next();
  await conn.expect('hello');
  conn.send({ type: 'error', code: 'LP_SHUTTING_DOWN', message: 'bye' });
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_SHUTTING_DOWN');
  assert.equal(errors[0]?.fromServer, true);
  clock.advance(250);
  conn = await server.next();
  await conn.expect('hello');
  const stopped = once(client, 'stopped');
  conn.send({ type: 'error', code: 'LP_AUTH_FAILED', message: 'wrong credential' });
  const [reason] = (await stopped) as [StopReason];
  assert.deepEqual(reason, { kind: 'fatal', code: 'LP_AUTH_FAILED', message: 'wrong credential' });
  assert.equal(errors[1]?.code, 'LP_AUTH_FAILED');
  assert.equal(client.state, 'stopped');
  assert.equal(clock.pending, 0);
  await conn.closed;
});

test('a malformed frame from the server is answered with an error frame and a reconnect', async (t) => {
  const server = await tcpServer(t);
  const { client, errors } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  conn.sendPayload(encodeMessage({ type: 'heartbeat', seq: -1, serverTime: 0 }));
  const error = await conn.expect('error');
  assert.equal(error.code, 'LP_MESSAGE_INVALID');
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_MESSAGE_INVALID');
  assert.equal(errors[0]?.fromServer, false);
  await conn.closed;
});

test('a push before the welcome is a protocol error', async (t) => {
  const server = await tcpServer(t);
  const { client, errors } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.expect('hello');
  conn.send(push('early', 1));
  assert.equal((await conn.expect('error')).code, 'LP_MESSAGE_UNEXPECTED');
  await waitForState(client, 'backoff');
  assert.equal(errors[0]?.code, 'LP_MESSAGE_UNEXPECTED');
});

test('stop() closes, resolves once closed and never reconnects', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.accept();
  await waitForState(client, 'connected');
  const stopped = once(client, 'stopped');
  await client.stop();
  assert.equal(client.state, 'stopped');
  assert.deepEqual((await stopped)[0], { kind: 'user' });
  await conn.closed;
  assert.equal(clock.pending, 0);
  client.reconnect();
  assert.equal(client.state, 'stopped');
});

test('stop() during back-off cancels the retry', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.expect('hello');
  conn.destroy();
  await waitForState(client, 'backoff');
  await client.stop();
  assert.equal(client.state, 'stopped');
  assert.equal(clock.pending, 0);
});

test('reconnect() drops the connection and connects again at once', async (t) => {
  const server = await tcpServer(t);
  const { client, errors } = makeClient(t, server.url);
  client.start();
  const first = await server.next();
  await first.accept();
  await waitForState(client, 'connected');
  client.reconnect();
  assert.equal(client.state, 'connecting');
  await first.closed;
  const second = await server.next();
  await second.accept();
  await waitForState(client, 'connected');
  assert.deepEqual(errors, []);
});

test('a connection that stays up one heartbeat interval also resets the back-off', async (t) => {
  const server = await tcpServer(t);
  const { client, clock } = makeClient(t, server.url);
  client.start();
  const failing = await server.next();
  await failing.expect('hello');
  failing.destroy();
  await waitForState(client, 'backoff');
  clock.advance(250); // first window was 500
  const conn = await server.next();
  await conn.accept({ heartbeatIntervalMs: 1_000 });
  await waitForState(client, 'connected');
  clock.advance(1_000); // no heartbeat, but up for a full interval
  const backoff = waitForState(client, 'backoff');
  conn.destroy();
  await backoff;
  clock.advance(249);
  assert.equal(client.state, 'backoff');
  clock.advance(1);
  assert.equal(client.state, 'connecting');
});

test('listeners may stop the client from inside connectionError', async (t) => {
  const server = await FakeServer.start('tcp');
  const url = server.url;
  await server.close();
  const { client, clock } = makeClient(t, url);
  const stopped = once(client, 'stopped');
  client.once('connectionError', () => void client.stop());
  client.start();
  await stopped;
  assert.equal(client.state, 'stopped');
  assert.equal(clock.pending, 0);
});
