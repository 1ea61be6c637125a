import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { DEVICE_ID_PATTERN, ManualClock } from '@localpush/protocol';
import {
  createDeviceDirectory,
  generateDeviceId,
  InvalidDeviceIdError,
  verifyCredential,
} from '../../src/engine/devices.js';
import { ServerErrorCode, StoreError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/store/index.js';

function directory(online: string[] = []) {
  const store = createMemoryStore();
  const clock = new ManualClock();
  return {
    store,
    clock,
    dir: createDeviceDirectory({ store, clock, isOnline: (id) => online.includes(id) }),
  };
}

test('add generates an id and a credential, and stores only the credential hash', async () => {
  const { store, clock, dir } = directory();
  const { device, credential } = await dir.add({ label: 'kiosk' });
  assert.match(device.id, /^dev-[a-z2-7]{10}$/);
  assert.match(credential, /^lpd_[A-Za-z0-9_-]{43}$/);
  assert.equal(device.label, 'kiosk');
  assert.equal(device.createdAt, clock.now());
  const stored = await store.getDevice(device.id);
  assert.equal(stored?.credentialHash, createHash('sha256').update(credential).digest('hex'));
  assert.equal(JSON.stringify(stored).includes(credential), false);
});

test('add takes a chosen id, refuses an invalid one and a taken one', async () => {
  const { dir } = directory();
  const { device } = await dir.add({ id: 'ipad-7@ward:3' });
  assert.equal(device.id, 'ipad-7@ward:3');
  assert.equal(device.label, null);
  await assert.rejects(dir.add({ id: 'has space' }), InvalidDeviceIdError);
  await assert.rejects(dir.add({ id: '' }), InvalidDeviceIdError);
  await assert.rejects(
    dir.add({ id: 'ipad-7@ward:3' }),
    (e: unknown) => e instanceof StoreError && e.code === ServerErrorCode.STORE_DEVICE_EXISTS,
  );
});

test('get, list, remove and isOnline', async () => {
  const { dir } = directory(['a']);
  await dir.add({ id: 'b' });
  await dir.add({ id: 'a' });
  assert.deepEqual(
    (await dir.list()).map((d) => d.id),
    ['a', 'b'],
  );
  assert.equal((await dir.get('a'))?.id, 'a');
  assert.equal(dir.isOnline('a'), true);
  assert.equal(dir.isOnline('b'), false);
  assert.equal(await dir.remove('a'), true);
  assert.equal(await dir.remove('a'), false);
  assert.equal(await dir.get('a'), undefined);
});

test('verifyCredential accepts the right credential only, and says the same for unknown devices', async () => {
  const { store, dir } = directory();
  const { device, credential } = await dir.add({});
  assert.equal(await verifyCredential(store, device.id, credential), true);
  assert.equal(await verifyCredential(store, device.id, `${credential}x`), false);
  assert.equal(await verifyCredential(store, device.id, ''), false);
  assert.equal(await verifyCredential(store, 'nobody', credential), false);
});

test('generated ids match the protocol pattern', () => {
  for (let i = 0; i < 200; i++) assert.match(generateDeviceId(), DEVICE_ID_PATTERN);
});
