// The APNs-compatible endpoint wired into the server, over real loopback sockets: real APNs client
// libraries deliver to a locally connected DeviceClient; an offline or silent device's notification is
// forwarded to the APNs test peer with the same bytes and apns-id; errors look like APNs's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import apn from '@parse/node-apn';
import { ApnsClient as Apns2Client, Notification as Apns2Notification } from 'apns2';
import { ApnsClient } from '../../src/apns/index.js';
import { createApnsTestPeer, type ApnsTestPeer } from '../../src/testing.js';
import { makeKey, signToken } from '../apns/helpers.js';
import {
  connectDevice,
  enrol,
  postH1,
  postH2,
  startHarness,
  TOPIC,
  waitUntil,
  type Harness,
} from './helpers.js';

const key = makeKey();
let peer: ApnsTestPeer;
let apns: ApnsClient;
let h: Harness;
let bearer: string;

const token = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

before(async () => {
  peer = await createApnsTestPeer({ keys: [{ teamId: key.teamId, keyId: key.keyId, pem: key.publicPem }] });
  apns = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    environment: 'development',
    endpoints: { development: peer.url },
    ca: peer.cert,
    maxAttempts: 1,
  });
  h = await startHarness(key, { sender: apns });
  bearer = `bearer ${await signToken(key, { iatSec: Math.floor(Date.now() / 1000) })}`;
});
after(async () => {
  await h.close();
  await apns.close();
  await peer.close();
});

/** POST to the endpoint over h2/TLS with a valid provider token. */
function post(
  deviceToken: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): ReturnType<typeof postH2> {
  const port = h.server.addresses.apns?.port ?? 0;
  return postH2(
    `https://127.0.0.1:${port}`,
    `/3/device/${deviceToken}`,
    { authorization: bearer, 'apns-topic': TOPIC, 'apns-push-type': 'alert', ...headers },
    typeof body === 'string' ? Buffer.from(body) : body,
    h.server.identity.cert,
  );
}

describe('APNs endpoint: local delivery', () => {
  it('@parse/node-apn delivers to a connected DeviceClient and gets 200', async () => {
    const credential = await enrol(h.server, 'node-apn-dev', token(1));
    const { client, received } = await connectDevice(h.server, 'node-apn-dev', credential);
    const provider = new apn.Provider({
      token: { key: key.privatePem, keyId: key.keyId, teamId: key.teamId },
      address: '127.0.0.1',
      port: h.server.addresses.apns?.port ?? 0,
      ca: [h.server.identity.cert],
      production: false,
    });
    try {
      const note = new apn.Notification();
      note.alert = 'hello through localpush';
      note.topic = TOPIC;
      note.pushType = 'alert';
      note.id = randomUUID().toUpperCase();
      note.payload = { custom: 1 };
      const result = await provider.send(note, token(1));
      assert.deepEqual(result.failed, []);
      assert.equal(result.sent.length, 1);
      assert.equal(received.length, 1);
      const push = received[0];
      assert.equal(push?.id, note.id.toLowerCase(), 'the apns-id is the localpush message id');
      assert.equal(push?.kind, 'alert');
      assert.deepEqual(push?.payload, { custom: 1, aps: { alert: 'hello through localpush' } });
      const status = await h.server.engine.status(note.id.toLowerCase());
      assert.equal(status?.message.state, 'acked');
      assert.equal(peer.notifications.length, 0, 'nothing went to APNs');
    } finally {
      await provider.shutdown();
      await client.stop();
    }
  });

  it('apns2 delivers to a connected DeviceClient and gets 200', async () => {
    const credential = await enrol(h.server, 'apns2-dev', token(2));
    const { client, received } = await connectDevice(h.server, 'apns2-dev', credential);
    const sender = new Apns2Client({
      team: key.teamId,
      keyId: key.keyId,
      signingKey: key.privatePem,
      defaultTopic: TOPIC,
      host: '127.0.0.1',
    });
    // apns2 can only be aimed at host:443 with the system trust store (docs/apns.md): swap its Pool.
    const originalPool = sender.client;
    const Pool = originalPool.constructor as new (origin: string, options: object) => Apns2Client['client'];
    const pool = new Pool(`https://127.0.0.1:${h.server.addresses.apns?.port ?? 0}`, {
      connections: 4,
      pipelining: 1,
      allowH2: true,
      maxConcurrentStreams: 100,
      connect: { ca: h.server.identity.cert },
    });
    Object.defineProperty(sender, 'client', { value: pool });
    try {
      await sender.send(new Apns2Notification(token(2), { alert: 'hello from apns2', data: { k: 2 } }));
      assert.equal(received.length, 1);
      assert.deepEqual(received[0]?.payload, { aps: { alert: 'hello from apns2' }, k: 2 });
      assert.equal(peer.notifications.length, 0);
    } finally {
      await sender.close();
      await originalPool.close();
      await client.stop();
    }
  });

  it('the same apns-id twice reaches the client once and is answered 200 both times', async () => {
    const credential = await enrol(h.server, 'dup-dev', token(3));
    const { client, received } = await connectDevice(h.server, 'dup-dev', credential);
    try {
      const id = randomUUID();
      const first = await post(token(3), '{"aps":{"alert":"once"}}', { 'apns-id': id });
      const second = await post(token(3), '{"aps":{"alert":"once"}}', { 'apns-id': id.toUpperCase() });
      assert.equal(first.status, 200);
      assert.equal(first.headers['apns-id'], id);
      assert.equal(second.status, 200);
      assert.equal(second.headers['apns-id'], id.toUpperCase(), 'apns-id echoed as sent');
      assert.deepEqual(
        received.map((p) => p.id),
        [id],
      );
    } finally {
      await client.stop();
    }
  });

  it('an apns-id reused for another device (or other content) still reaches it, once per request', async () => {
    const credentialA = await enrol(h.server, 'reuse-a', token(20));
    const credentialB = await enrol(h.server, 'reuse-b', token(21));
    const a = await connectDevice(h.server, 'reuse-a', credentialA);
    const b = await connectDevice(h.server, 'reuse-b', credentialB);
    try {
      const id = randomUUID();
      // APNs does not scope apns-ids; a provider may send one notification's id to several tokens.
      assert.equal((await post(token(20), '{"aps":{"alert":"to A"}}', { 'apns-id': id })).status, 200);
      assert.equal((await post(token(21), '{"aps":{"alert":"to B"}}', { 'apns-id': id })).status, 200);
      // The provider retries B's request: still one message for B.
      assert.equal((await post(token(21), '{"aps":{"alert":"to B"}}', { 'apns-id': id })).status, 200);
      // Other content under the same id for A is a new notification, as it is for APNs.
      assert.equal((await post(token(20), '{"aps":{"alert":"again"}}', { 'apns-id': id })).status, 200);
      assert.deepEqual(
        a.received.map((p) => (p.payload as { aps: { alert: string } }).aps.alert),
        ['to A', 'again'],
      );
      assert.deepEqual(
        b.received.map((p) => (p.payload as { aps: { alert: string } }).aps.alert),
        ['to B'],
      );
      assert.equal(a.received[0]?.id, id);
      assert.match(b.received[0]?.id ?? '', new RegExp(`^${id}~[A-Za-z0-9_-]{22}$`));
    } finally {
      await a.client.stop();
      await b.client.stop();
    }
  });

  it('serves HTTP/1.1 over TLS and cleartext h2c too, and accepts the core provider key', async () => {
    const credential = await enrol(h.server, 'transports-dev', token(4));
    const { client, received } = await connectDevice(h.server, 'transports-dev', credential);
    try {
      const h1 = await postH1(
        h.server.addresses.apns?.port ?? 0,
        `/3/device/${token(4)}`,
        { authorization: bearer, 'apns-topic': TOPIC },
        Buffer.from('{"n":1}'),
        h.server.identity.cert,
      );
      assert.equal(h1.status, 200, h1.body);
      const h2c = await postH2(
        `http://127.0.0.1:${h.server.addresses.apnsH2c?.port ?? 0}`,
        `/3/device/${token(4)}`,
        { authorization: `Bearer ${h.server.providerKey}`, 'apns-topic': TOPIC },
        Buffer.from('{"n":2}'),
      );
      assert.equal(h2c.status, 200, h2c.body);
      assert.deepEqual(
        received.map((p) => p.payload),
        [{ n: 1 }, { n: 2 }],
      );
    } finally {
      await client.stop();
    }
  });
});

describe('APNs endpoint: fallback to APNs', () => {
  it('device offline: APNs gets identical payload bytes and apns-id; receipt says fallen_back apns:200', async () => {
    await enrol(h.server, 'offline-dev', token(5));
    const id = randomUUID();
    // Odd spacing and key order: any re-serialisation would show.
    const bytes = Buffer.from('{ "b":2,\n  "aps" : {"alert":"via APNs"}, "a":1 }');
    const expiration = Math.floor(Date.now() / 1000) + 3600;
    const before = peer.notifications.length;
    const answer = await post(token(5), bytes, {
      'apns-id': id,
      'apns-expiration': String(expiration),
      'apns-collapse-id': 'c1',
    });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers['apns-id'], id);
    const n = peer.notifications[before];
    assert.ok(n);
    assert.equal(n.apnsId, id);
    assert.ok(n.body.equals(bytes), 'payload bytes untouched');
    assert.equal(n.deviceToken, token(5));
    assert.equal(n.expiration, expiration);
    assert.equal(n.collapseId, 'c1');
    const status = await h.server.engine.status(id);
    assert.equal(status?.message.state, 'fallen_back');
    assert.equal(status?.receipts.at(-1)?.detail, 'apns:200');
  });

  it('device connected but silent: falls back after the ack timeout', async () => {
    const credential = await enrol(h.server, 'silent-dev', token(6));
    let release = (): void => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    // The handler never finishes, so the push is never acked — while heartbeats keep the session alive.
    const { client, received } = await connectDevice(h.server, 'silent-dev', credential, () => held);
    try {
      const id = randomUUID();
      const before = peer.notifications.length;
      const started = performance.now();
      const answer = await post(token(6), '{"aps":{"alert":"late"}}', { 'apns-id': id });
      const elapsed = performance.now() - started;
      assert.equal(answer.status, 200, answer.body);
      assert.ok(elapsed >= 400, `answered after ${elapsed.toFixed(0)} ms, ack timeout 400 ms`);
      assert.equal(received.length, 1, 'the device did get it locally');
      assert.equal(peer.notifications[before]?.apnsId, id, 'and APNs got it after the timeout');
      const status = await h.server.engine.status(id);
      assert.equal(status?.message.state, 'fallen_back');
    } finally {
      release();
      await client.stop();
    }
  });

  it("relays APNs's status and reason (410 Unregistered with timestamp)", async () => {
    await enrol(h.server, 'gone-dev', token(7));
    peer.script.unregister(token(7), 1_700_000_000_000);
    const answer = await post(token(7), '{"aps":{}}');
    assert.equal(answer.status, 410);
    assert.deepEqual(JSON.parse(answer.body), { reason: 'Unregistered', timestamp: 1_700_000_000_000 });
  });

  it('a token no device registered is passed through to APNs', async () => {
    const before = peer.notifications.length;
    const answer = await post(token(0xee), '{"aps":{"alert":"not local"}}');
    assert.equal(answer.status, 200, answer.body);
    assert.equal(peer.notifications[before]?.deviceToken, token(0xee));
  });
});

describe('APNs endpoint: validation is wired', () => {
  const reasonOf = (a: { body: string }): unknown => (JSON.parse(a.body) as { reason: unknown }).reason;

  it('answers MissingTopic, BadDeviceToken, PayloadTooLarge and InvalidProviderToken like APNs', async () => {
    const id = randomUUID();
    const noTopic = await post(token(1), '{}', { 'apns-topic': '', 'apns-id': id });
    assert.equal(noTopic.status, 400);
    assert.equal(reasonOf(noTopic), 'MissingTopic');
    assert.equal(noTopic.headers['apns-id'], id);

    const badToken = await post('xyz', '{}');
    assert.equal(badToken.status, 400);
    assert.equal(reasonOf(badToken), 'BadDeviceToken');
    assert.match(String(badToken.headers['apns-id']), /^[0-9a-f-]{36}$/, 'a generated apns-id');

    const tooLarge = await post(token(1), JSON.stringify({ pad: 'x'.repeat(5000) }));
    assert.equal(tooLarge.status, 413);
    assert.equal(reasonOf(tooLarge), 'PayloadTooLarge');

    const other = makeKey(key.teamId, 'OTHERKEY12');
    const forged = await post(token(1), '{}', {
      authorization: `bearer ${await signToken(other, { iatSec: Math.floor(Date.now() / 1000) })}`,
    });
    assert.equal(forged.status, 403);
    assert.equal(reasonOf(forged), 'InvalidProviderToken');
  });

  it('answers DeviceTokenNotForTopic for a registered token and another app', async () => {
    const answer = await post(token(1), '{}', { 'apns-topic': 'com.example.other' });
    assert.equal(answer.status, 400);
    assert.equal(reasonOf(answer), 'DeviceTokenNotForTopic');
  });
});

describe('APNs endpoint without APNs configured', () => {
  let bare: Harness;
  before(async () => {
    bare = await startHarness(key);
  });
  after(async () => {
    await bare.close();
  });

  it("keeps an offline device's notification queued, answers 200, and delivers it on reconnect", async () => {
    const credential = await enrol(bare.server, 'later-dev', token(8));
    const id = randomUUID();
    const answer = await postH2(
      `https://127.0.0.1:${bare.server.addresses.apns?.port ?? 0}`,
      `/3/device/${token(8)}`,
      { authorization: bearer, 'apns-topic': TOPIC, 'apns-id': id },
      Buffer.from('{"aps":{"alert":"kept"}}'),
      bare.server.identity.cert,
    );
    assert.equal(answer.status, 200, answer.body);
    assert.equal((await bare.server.engine.status(id))?.message.state, 'queued');
    const { client, received } = await connectDevice(bare.server, 'later-dev', credential);
    try {
      await waitUntil(() => received.length === 1);
      assert.equal(received[0]?.id, id);
    } finally {
      await client.stop();
    }
  });

  it('answers BadDeviceToken for a token no device registered', async () => {
    const answer = await postH2(
      `https://127.0.0.1:${bare.server.addresses.apns?.port ?? 0}`,
      `/3/device/${token(0xdd)}`,
      { authorization: bearer, 'apns-topic': TOPIC },
      Buffer.from('{}'),
      bare.server.identity.cert,
    );
    assert.equal(answer.status, 400);
    assert.deepEqual(JSON.parse(answer.body), { reason: 'BadDeviceToken' });
  });
});
