// The APNs test peer over the wire with a raw node:http2 client: connection settings before and after
// authentication, rules that only a real wire shows (duplicate headers), and its scripted answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { once } from 'node:events';
import { ManualClock } from '@localpush/protocol';
import { createApnsTestPeer, generatePeerCertificate, type ApnsTestPeer } from '../../src/testing.js';
import { DEVICE, makeKey, signToken } from './helpers.js';

const key = makeKey();
const clock = new ManualClock();
let tls: { cert: string; key: string };
let peer: ApnsTestPeer;

before(async () => {
  tls = await generatePeerCertificate();
  peer = await createApnsTestPeer({
    keys: [{ teamId: key.teamId, keyId: key.keyId, pem: key.privatePem }],
    clock,
    tls,
  });
});
after(async () => {
  await peer.close();
});

async function open(): Promise<ClientHttp2Session> {
  const session = connect(peer.url, { ca: tls.cert });
  await once(session, 'remoteSettings');
  return session;
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': `/3/device/${DEVICE}`, ...headers });
    let status = 0;
    let responseHeaders: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString() }),
    );
    stream.on('error', reject);
    stream.end(body);
  });
}

const token = async (iatSec = Math.floor(clock.now() / 1000)) => `bearer ${await signToken(key, { iatSec })}`;
const BODY = '{"aps":{"alert":"x"}}';

test('one stream at a time until a valid token, then the configured concurrency', async () => {
  const session = await open();
  try {
    assert.equal(session.remoteSettings.maxConcurrentStreams, 1);
    const denied = await request(
      session,
      { authorization: 'bearer nope', 'apns-topic': 'com.example.app' },
      BODY,
    );
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.body), { reason: 'InvalidProviderToken' });
    assert.equal(typeof denied.headers['apns-id'], 'string');
    assert.equal(session.remoteSettings.maxConcurrentStreams, 1, 'still restricted after a bad token');
    const settings = once(session, 'remoteSettings');
    const okAnswer = await request(
      session,
      { authorization: await token(), 'apns-topic': 'com.example.app' },
      BODY,
    );
    assert.equal(okAnswer.status, 200);
    assert.equal(okAnswer.body, '');
    await settings;
    assert.equal(session.remoteSettings.maxConcurrentStreams, 1000);
  } finally {
    session.close();
  }
});

test('a header sent twice on the wire is DuplicateHeaders', async () => {
  const session = await open();
  try {
    const answer = await request(
      session,
      { authorization: await token(), 'apns-topic': ['com.example.app', 'com.example.app'] },
      BODY,
    );
    assert.equal(answer.status, 400);
    assert.deepEqual(JSON.parse(answer.body), { reason: 'DuplicateHeaders' });
  } finally {
    session.close();
  }
});

test('oversized body: 413 PayloadTooLarge; empty body: PayloadEmpty', async () => {
  const session = await open();
  try {
    const auth = await token();
    const big = await request(
      session,
      { authorization: auth, 'apns-topic': 'com.example.app' },
      Buffer.alloc(20_000, 0x20),
    );
    assert.equal(big.status, 413, big.body);
    assert.deepEqual(JSON.parse(big.body), { reason: 'PayloadTooLarge' });
    const empty = await request(session, { authorization: auth, 'apns-topic': 'com.example.app' }, '');
    assert.deepEqual([empty.status, JSON.parse(empty.body)], [400, { reason: 'PayloadEmpty' }]);
  } finally {
    session.close();
  }
});

test('a second token switch within 20 minutes on one connection: 429 TooManyProviderTokenUpdates', async () => {
  const session = await open();
  try {
    const send = async (auth: string) => {
      const a = await request(session, { authorization: auth, 'apns-topic': 'com.example.app' }, BODY);
      return a.status === 200 ? 200 : (JSON.parse(a.body) as { reason: string }).reason;
    };
    const now = Math.floor(clock.now() / 1000);
    assert.equal(await send(await token(now)), 200);
    assert.equal(await send(await token(now - 1)), 200);
    assert.equal(await send(await token(now - 2)), 'TooManyProviderTokenUpdates');
  } finally {
    session.close();
  }
});

test('scripted answers: reason with its status, 410 with timestamp', async () => {
  const session = await open();
  try {
    const auth = await token();
    peer.script.fail('TooManyProviderTokenUpdates');
    peer.script.fail('ServiceUnavailable');
    const a = await request(session, { authorization: auth, 'apns-topic': 'com.example.app' }, BODY);
    const b = await request(session, { authorization: auth, 'apns-topic': 'com.example.app' }, BODY);
    assert.deepEqual([a.status, JSON.parse(a.body)], [429, { reason: 'TooManyProviderTokenUpdates' }]);
    assert.deepEqual([b.status, JSON.parse(b.body)], [503, { reason: 'ServiceUnavailable' }]);
    peer.script.unregister(DEVICE.toUpperCase(), 1234);
    const c = await request(session, { authorization: auth, 'apns-topic': 'com.example.app' }, BODY);
    assert.deepEqual([c.status, JSON.parse(c.body)], [410, { reason: 'Unregistered', timestamp: 1234 }]);
  } finally {
    session.close();
  }
});
