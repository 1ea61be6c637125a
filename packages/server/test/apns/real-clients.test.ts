// Real APNs client libraries against the test peer: proof that the peer (and so the rules the
// compatible endpoint will apply) accepts what production senders actually send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import apn from '@parse/node-apn';
import { ApnsClient as Apns2Client, Notification as Apns2Notification, type ApnsError } from 'apns2';
import { createApnsTestPeer, type ApnsTestPeer } from '../../src/testing.js';
import { DEVICE, makeKey } from './helpers.js';

const key = makeKey();
let peer: ApnsTestPeer;

before(async () => {
  peer = await createApnsTestPeer({ keys: [{ teamId: key.teamId, keyId: key.keyId, pem: key.publicPem }] });
});
after(async () => {
  await peer.close();
});

test('@parse/node-apn sends to the peer (address/port/ca options, no patching)', async () => {
  const provider = new apn.Provider({
    token: { key: key.privatePem, keyId: key.keyId, teamId: key.teamId },
    address: '127.0.0.1',
    port: peer.port,
    ca: [peer.cert],
    production: false,
  });
  try {
    const before = peer.notifications.length;
    const note = new apn.Notification();
    note.alert = 'hello from node-apn';
    note.topic = 'com.example.app';
    note.pushType = 'alert';
    note.expiry = 0;
    note.collapseId = 'collapse-1';
    note.payload = { custom: 'value' };
    const result = await provider.send(note, DEVICE);
    assert.deepEqual(result.failed, []);
    assert.equal(result.sent.length, 1);
    const n = peer.notifications[before];
    assert.ok(n);
    assert.equal(n.deviceToken, DEVICE);
    assert.equal(n.expiration, 0, 'node-apn sends expiry 0 as apns-expiration: 0');
    assert.equal(n.collapseId, 'collapse-1');
    assert.deepEqual(n.json, { custom: 'value', aps: { alert: 'hello from node-apn' } });

    // Errors come back in node-apn's own shape, with the peer's status and reason.
    peer.script.unregister('ab'.repeat(32), 1_700_000_000_000);
    const gone = await provider.send(note, 'ab'.repeat(32));
    assert.equal(gone.failed[0]?.status, 410);
    assert.equal(gone.failed[0]?.response?.reason, 'Unregistered');
  } finally {
    await provider.shutdown();
  }
});

test('apns2 sends to the peer once its undici Pool points there (it cannot be configured to)', async () => {
  const client = new Apns2Client({
    team: key.teamId,
    keyId: key.keyId,
    signingKey: key.privatePem,
    defaultTopic: 'com.example.app',
    host: '127.0.0.1',
  });
  // apns2 builds `https://${host}:443` with no TLS options, so neither the port nor the trust store can
  // be set. Its `client` Pool is swapped for one with the same settings aimed at the peer; signing,
  // headers, serialisation and response handling remain apns2's own code.
  const originalPool = client.client;
  const Pool = originalPool.constructor as new (origin: string, options: object) => Apns2Client['client'];
  const pool = new Pool(peer.url, {
    connections: 32,
    pipelining: 1,
    allowH2: true,
    maxConcurrentStreams: 100,
    connect: { ca: peer.cert },
  });
  Object.defineProperty(client, 'client', { value: pool });
  try {
    const before = peer.notifications.length;
    await client.send(new Apns2Notification(DEVICE, { alert: 'hello from apns2', data: { k: 1 } }));
    const n = peer.notifications[before];
    assert.ok(n);
    assert.equal(n.pushType, 'alert');
    assert.deepEqual(n.json, { aps: { alert: 'hello from apns2' }, k: 1 });

    await assert.rejects(
      client.send(new Apns2Notification('zz', { alert: 'bad token' })),
      (error: ApnsError) => error.statusCode === 400 && error.reason === 'BadDeviceToken',
    );
  } finally {
    await client.close();
    await originalPool.close();
  }
});
