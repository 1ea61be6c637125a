// The fallback goes where the token belongs (issue 11, item 8): two recording APNs peers, one playing
// production and one the sandbox, behind one fallback client with a pool per environment. A token
// registered as production reaches the production peer only, a development token the sandbox only —
// whatever environment the endpoint itself plays — and both registration paths share one default.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_APNS_ENVIRONMENT } from '@localpush/protocol';
import { ApnsClient } from '../../src/apns/index.js';
import { createApnsTestPeer, generatePeerCertificate, type ApnsTestPeer } from '../../src/testing.js';
import { makeKey, signToken } from '../apns/helpers.js';
import { connectDevice, postH2, startHarness, TOPIC, waitUntil, type Harness } from './helpers.js';

const key = makeKey();
let production: ApnsTestPeer;
let sandbox: ApnsTestPeer;
let apns: ApnsClient;
let h: Harness;
let bearer: string;

const auth = (): Record<string, string> => ({ authorization: `Bearer ${h.server.providerKey}` });

before(async () => {
  // One certificate for both peers, so that one `ca` lets the client trust either.
  const tls = await generatePeerCertificate();
  const keys = [{ teamId: key.teamId, keyId: key.keyId, pem: key.publicPem }];
  production = await createApnsTestPeer({ keys, tls, environment: 'production' });
  sandbox = await createApnsTestPeer({ keys, tls, environment: 'development' });
  apns = new ApnsClient({
    credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
    // What the server builds from its configuration: the endpoint plays the sandbox by default.
    environment: 'development',
    endpoints: { production: production.url, development: sandbox.url },
    ca: tls.cert,
    maxAttempts: 1,
  });
  h = await startHarness(key, { sender: apns });
  bearer = `bearer ${await signToken(key, { iatSec: Math.floor(Date.now() / 1000) })}`;
});
after(async () => {
  await h.close();
  await apns.close();
  await production.close();
  await sandbox.close();
});

async function addDevice(id: string): Promise<string> {
  const added = await h.server.api.inject({
    method: 'POST',
    url: '/v1/devices',
    headers: auth(),
    payload: { id },
  });
  assert.equal(added.statusCode, 201, added.body);
  return added.json<{ credential: string }>().credential;
}

async function registerToken(id: string, token: string, environment?: string): Promise<string> {
  const registered = await h.server.api.inject({
    method: 'PUT',
    url: `/v1/devices/${id}/apns-token`,
    headers: auth(),
    payload: environment === undefined ? { token, topic: TOPIC } : { token, topic: TOPIC, environment },
  });
  assert.equal(registered.statusCode, 200, registered.body);
  return registered.json<{ environment: string }>().environment;
}

/** A push through the endpoint to a device that is offline, so it falls back at once. */
function push(token: string, apnsId: string): ReturnType<typeof postH2> {
  return postH2(
    `https://127.0.0.1:${h.server.addresses.apns?.port ?? 0}`,
    `/3/device/${token}`,
    { authorization: bearer, 'apns-topic': TOPIC, 'apns-push-type': 'alert', 'apns-id': apnsId },
    Buffer.from('{"aps":{"alert":"where do I go?"}}'),
    h.server.identity.cert,
  );
}

describe('APNs fallback per token environment', () => {
  it('sends a production token to production and a development token to the sandbox', async () => {
    const prodToken = 'a1'.repeat(32);
    const devToken = 'b2'.repeat(32);
    await addDevice('env-prod');
    await addDevice('env-dev');
    assert.equal(await registerToken('env-prod', prodToken, 'production'), 'production');
    assert.equal(await registerToken('env-dev', devToken, 'development'), 'development');

    const prodId = randomUUID().toUpperCase();
    const devId = randomUUID().toUpperCase();
    const [toProd, toDev] = await Promise.all([push(prodToken, prodId), push(devToken, devId)]);
    assert.equal(toProd.status, 200, toProd.body);
    assert.equal(toDev.status, 200, toDev.body);

    assert.deepEqual(
      production.notifications.map((n) => [n.deviceToken, n.apnsId]),
      [[prodToken, prodId]],
      'production received exactly the production token',
    );
    assert.deepEqual(
      sandbox.notifications.map((n) => [n.deviceToken, n.apnsId]),
      [[devToken, devId]],
      'the sandbox received exactly the development token',
    );
    // Each local copy is settled as fallen back, so receipts say which path carried it.
    for (const id of [prodId, devId]) {
      const status = await h.server.engine.status(id.toLowerCase());
      assert.equal(status?.message.state, 'fallen_back');
    }
  });

  it('registers a token without an environment as the SDK does: production, on both paths', async () => {
    assert.equal(DEFAULT_APNS_ENVIRONMENT, 'production');
    await addDevice('env-default-http');
    assert.equal(await registerToken('env-default-http', 'c3'.repeat(32)), DEFAULT_APNS_ENVIRONMENT);

    const credential = await addDevice('env-default-sdk');
    const { client } = await connectDevice(h.server, 'env-default-sdk', credential);
    try {
      client.registerApnsToken({ token: 'd4'.repeat(32), topic: TOPIC });
      const registry = h.server.apns?.registry;
      assert.ok(registry);
      await waitUntil(async () => (await registry.lookup('d4'.repeat(32))) !== undefined);
      assert.equal((await registry.lookup('d4'.repeat(32)))?.environment, DEFAULT_APNS_ENVIRONMENT);
    } finally {
      await client.stop();
    }
  });
});
