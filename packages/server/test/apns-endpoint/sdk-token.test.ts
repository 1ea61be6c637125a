// Devices register their APNs token through the SDK, over their own authenticated connection [LP-6.9]:
// no provider key on the device, and the token reaches a restarted registry again after a reconnect.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import apn from '@parse/node-apn';
import { DeviceClient } from '@localpush/client';
import { makeKey } from '../apns/helpers.js';
import { connectDevice, startHarness, TOPIC, waitUntil, type Harness } from './helpers.js';

const key = makeKey();
let h: Harness;
const token = 'c0ffee'.repeat(10) + 'beef';

before(async () => {
  h = await startHarness(key);
});
after(async () => {
  await h.close();
});

async function addDevice(id: string): Promise<string> {
  const added = await h.server.api.inject({
    method: 'POST',
    url: '/v1/devices',
    headers: { authorization: `Bearer ${h.server.providerKey}` },
    payload: { id },
  });
  assert.equal(added.statusCode, 201, added.body);
  return added.json<{ credential: string }>().credential;
}

describe('APNs token registration through the SDK [LP-6.9]', () => {
  it('maps the token to the device, so a real APNs client reaches it over its local connection', async () => {
    const credential = await addDevice('sdk-phone');
    const { client, received } = await connectDevice(h.server, 'sdk-phone', credential);
    const registry = h.server.apns?.registry;
    assert.ok(registry, 'the APNs endpoint is on');
    try {
      client.registerApnsToken({
        token: token.toUpperCase(),
        topic: `${TOPIC}.voip`,
        environment: 'development',
      });
      await waitUntil(async () => (await registry.lookup(token)) !== undefined);
      const record = await registry.lookup(token);
      assert.equal(record?.deviceId, 'sdk-phone');
      assert.equal(record?.bundleId, TOPIC, 'the push-type suffix is not part of the registration');

      const provider = new apn.Provider({
        token: { key: key.privatePem, keyId: key.keyId, teamId: key.teamId },
        address: '127.0.0.1',
        port: h.server.addresses.apns?.port ?? 0,
        ca: [h.server.identity.cert],
        production: false,
      });
      try {
        const note = new apn.Notification();
        note.alert = 'registered through the SDK';
        note.topic = TOPIC;
        note.id = randomUUID();
        const result = await provider.send(note, token);
        assert.deepEqual(result.failed, []);
        assert.equal(received.at(-1)?.id, note.id);
      } finally {
        await provider.shutdown();
      }

      // The registry forgets (as a restarted server's memory registry would); the next session tells it again.
      assert.equal(await registry.unregister(token), true);
      client.reconnect();
      await waitUntil(async () => (await registry.lookup(token)) !== undefined);
    } finally {
      await client.stop();
    }
  });

  it('refuses a token or topic that APNs would never issue, before anything is sent', () => {
    const client = new DeviceClient({
      url: 'tls://127.0.0.1:1',
      deviceId: 'd',
      credential: 'c',
      pin: h.server.identity.spkiPin,
    });
    assert.throws(() => client.registerApnsToken({ token: 'abc', topic: TOPIC }), RangeError);
    assert.throws(() => client.registerApnsToken({ token: 'zz', topic: TOPIC }), RangeError);
    assert.throws(() => client.registerApnsToken({ token: 'ab', topic: 'not a topic' }), RangeError);
  });
});
