// The documented policy when APNs is configured but unreachable, and the token registration routes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApnsClient } from '../../src/apns/index.js';
import { makeKey, signToken } from '../apns/helpers.js';
import { connectDevice, enrol, postH2, startHarness, TOPIC, waitUntil, type Harness } from './helpers.js';

const key = makeKey();

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 1;
}

describe('APNs configured but unreachable', () => {
  let h: Harness;
  let apns: ApnsClient;
  let bearer: string;
  before(async () => {
    apns = new ApnsClient({
      credentials: { teamId: key.teamId, keyId: key.keyId, privateKey: key.privatePem },
      environment: 'development',
      endpoints: { development: `https://127.0.0.1:${await closedPort()}` },
      maxAttempts: 1,
    });
    h = await startHarness(key, { sender: apns });
    bearer = `bearer ${await signToken(key, { iatSec: Math.floor(Date.now() / 1000) })}`;
  });
  after(async () => {
    await h.close();
    await apns.close();
  });

  const post = (deviceToken: string, headers: Record<string, string> = {}): ReturnType<typeof postH2> =>
    postH2(
      `https://127.0.0.1:${h.server.addresses.apns?.port ?? 0}`,
      `/3/device/${deviceToken}`,
      { authorization: bearer, 'apns-topic': TOPIC, ...headers },
      Buffer.from('{"aps":{"alert":"x"}}'),
      h.server.identity.cert,
    );

  it('answers 200 and keeps the message queued for the device, which gets it on reconnect', async () => {
    const credential = await enrol(h.server, 'restricted-dev', '0a'.repeat(32));
    const id = randomUUID();
    const answer = await post('0a'.repeat(32), { 'apns-id': id });
    assert.equal(answer.status, 200, answer.body);
    assert.equal((await h.server.engine.status(id))?.message.state, 'queued');
    const { client, received } = await connectDevice(h.server, 'restricted-dev', credential);
    try {
      await waitUntil(() => received.length === 1);
      assert.equal(received[0]?.id, id);
    } finally {
      await client.stop();
    }
  });

  it('answers 503 ServiceUnavailable when nothing is stored locally (a token no device registered)', async () => {
    const answer = await post('0b'.repeat(32));
    assert.equal(answer.status, 503);
    assert.deepEqual(JSON.parse(answer.body), { reason: 'ServiceUnavailable' });
  });
});

describe('APNs token registration routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(key);
  });
  after(async () => {
    await h.close();
  });
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${h.server.providerKey}` });

  it('refuses a bad token or an unknown device, lists and forgets tokens, and drops them with the device', async () => {
    await enrol(h.server, 'reg-dev', 'AA'.repeat(32), 'com.example.app.voip');
    const bad = await h.server.api.inject({
      method: 'PUT',
      url: '/v1/devices/reg-dev/apns-token',
      headers: auth(),
      payload: { token: 'xyz', topic: TOPIC },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<{ error: { code: string } }>().error.code, 'LP_API_BAD_REQUEST');
    const unknown = await h.server.api.inject({
      method: 'PUT',
      url: '/v1/devices/nobody/apns-token',
      headers: auth(),
      payload: { token: 'ab'.repeat(32), topic: TOPIC },
    });
    assert.equal(unknown.statusCode, 404);
    const unauthenticated = await h.server.api.inject({
      method: 'PUT',
      url: '/v1/devices/reg-dev/apns-token',
      payload: { token: 'ab'.repeat(32), topic: TOPIC },
    });
    assert.equal(unauthenticated.statusCode, 401);

    const listed = await h.server.api.inject({
      method: 'GET',
      url: '/v1/devices/reg-dev/apns-tokens',
      headers: auth(),
    });
    assert.deepEqual(
      listed
        .json<{ tokens: { token: string; bundleId: string }[] }>()
        .tokens.map((t) => [t.token, t.bundleId]),
      [['aa'.repeat(32), 'com.example.app']],
      'lower-cased token, bundle id without the .voip suffix',
    );

    await enrol(h.server, 'reg-dev-2', 'bb'.repeat(32));
    const forget = await h.server.api.inject({
      method: 'DELETE',
      url: `/v1/devices/reg-dev-2/apns-token/${'bb'.repeat(32)}`,
      headers: auth(),
    });
    assert.equal(forget.statusCode, 204);
    assert.equal(await h.server.apns?.registry.lookup('bb'.repeat(32)), undefined);

    const removed = await h.server.api.inject({
      method: 'DELETE',
      url: '/v1/devices/reg-dev',
      headers: auth(),
    });
    assert.equal(removed.statusCode, 204);
    assert.equal(await h.server.apns?.registry.lookup('aa'.repeat(32)), undefined);
  });
});
