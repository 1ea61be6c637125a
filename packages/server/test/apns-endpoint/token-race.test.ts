/**
 * `PUT /v1/devices/:id/apns-token` racing `DELETE /v1/devices/:id`: the PUT checks that the device exists,
 * and the DELETE can land between that check and the store's write. The store then refuses the token for
 * an unknown device; the answer must be the 404 of an unknown device, not a 500. The interleaving is made
 * exact, not hoped for: the store's write waits until the DELETE has been answered over real HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server.js';
import { makeKey } from '../apns/helpers.js';
import { startHarness, type Harness } from './helpers.js';

const TOKEN = 'ab'.repeat(32);

/** Holds the store's next registerApnsToken until `release()`; `reached` resolves when it is called. */
function gateTokenWrites(server: RunningServer): { reached: Promise<void>; release: () => void } {
  const store = server.store;
  const write = store.registerApnsToken.bind(store);
  let release = (): void => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached = (): void => {};
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  store.registerApnsToken = async (record) => {
    store.registerApnsToken = write;
    reached();
    await released;
    return write(record);
  };
  return { reached: reachedPromise, release };
}

for (const store of ['memory', 'sqlite'] as const) {
  describe(`APNs token registration racing the device's removal (${store} store)`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(makeKey(), { config: { store } });
    });
    after(() => h.close());

    it('answers 404 LP_API_DEVICE_NOT_FOUND, not 500, and keeps no token', async () => {
      const api = `http://127.0.0.1:${h.server.addresses.api.port}`;
      const auth = { authorization: `Bearer ${h.server.providerKey}` };
      const headers = { ...auth, 'content-type': 'application/json' };
      const added = await fetch(`${api}/v1/devices`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ id: 'racer' }),
      });
      assert.equal(added.status, 201, await added.text());

      const gate = gateTokenWrites(h.server);
      const put = fetch(`${api}/v1/devices/racer/apns-token`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ token: TOKEN, topic: 'com.example.app' }),
      });
      await gate.reached; // the PUT has found the device and is about to write its token
      let removed: Response;
      try {
        removed = await fetch(`${api}/v1/devices/racer`, { method: 'DELETE', headers: auth });
      } finally {
        gate.release();
      }
      assert.equal(removed.status, 204, await removed.text());

      const answer = await put;
      const body = (await answer.json()) as { error?: { code: string } };
      assert.equal(answer.status, 404, JSON.stringify(body));
      assert.equal(body.error?.code, 'LP_API_DEVICE_NOT_FOUND');
      assert.equal(await h.server.store.apnsToken(TOKEN), undefined);
    });
  });
}
