/**
 * The APNs token registrations of the conformance suite: every backend maps tokens to devices alike,
 * moves a token between devices, and removes a device's tokens with the device, atomically. Registered
 * by runStoreConformance, inside its describe, with d1 and d2 registered before each test.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ApnsTokenRecord, Store } from '../../src/store/types.js';
import { T0, device } from './fixtures.js';

const base = { bundleId: 'com.example.app', environment: 'development' as const, updatedAt: T0 };

function token(deviceId: string, hex: string, overrides: Partial<ApnsTokenRecord> = {}): ApnsTokenRecord {
  return { ...base, token: hex, deviceId, ...overrides };
}

const tokensOf = async (store: Store, deviceId: string): Promise<string[]> =>
  (await store.apnsTokensOf(deviceId)).map((r) => r.token);

/** Registers the token tests; `store` is read when each test runs (the suite makes a fresh one per test). */
export function runTokenConformance(current: () => Store): void {
  it('APNs tokens: maps tokens case-insensitively, moves a token, forgets a removed device', async () => {
    const store = current();
    await store.registerApnsToken(token('d1', 'AB'.repeat(32)));
    await store.registerApnsToken(token('d1', 'cd'.repeat(32)));
    assert.equal((await store.apnsToken('ab'.repeat(32)))?.deviceId, 'd1');
    // An app reinstall on another device can bring the token along.
    await store.registerApnsToken(token('d2', 'ab'.repeat(32), { updatedAt: T0 + 2 }));
    assert.equal((await store.apnsToken('AB'.repeat(32)))?.deviceId, 'd2');
    assert.deepEqual(await tokensOf(store, 'd1'), ['cd'.repeat(32)]);
    assert.equal(await store.removeDevice('d1'), true);
    assert.equal(await store.apnsToken('cd'.repeat(32)), undefined);
    assert.equal(await store.removeApnsToken('ab'.repeat(32)), true);
    assert.equal(await store.removeApnsToken('ab'.repeat(32)), false);
  });

  it('APNs tokens: a registration reads back whole, lower-cased; re-registering replaces it', async () => {
    const store = current();
    await store.registerApnsToken(token('d1', 'EF01', { environment: 'production', bundleId: 'a.b' }));
    assert.deepEqual(await store.apnsToken('ef01'), {
      token: 'ef01',
      deviceId: 'd1',
      bundleId: 'a.b',
      environment: 'production',
      updatedAt: T0,
    });
    await store.registerApnsToken(token('d1', 'ef01', { updatedAt: T0 + 5 }));
    assert.deepEqual(await store.apnsTokensOf('d1'), [token('d1', 'ef01', { updatedAt: T0 + 5 })]);
    assert.equal(await store.apnsToken('0000'), undefined);
    assert.deepEqual(await store.apnsTokensOf('nobody'), []);
  });

  it('APNs tokens: lists a device’s tokens ordered by token, and only its own', async () => {
    const store = current();
    for (const hex of ['30', 'a0', '10', 'ff', '20']) await store.registerApnsToken(token('d1', hex));
    await store.registerApnsToken(token('d2', '15'));
    assert.deepEqual(await tokensOf(store, 'd1'), ['10', '20', '30', 'a0', 'ff']);
    assert.deepEqual(await tokensOf(store, 'd2'), ['15']);
  });

  it('APNs tokens: refuses a token for an unknown device and writes nothing', async () => {
    const store = current();
    await assert.rejects(store.registerApnsToken(token('nope', 'aa')), /unknown device "nope"/);
    assert.equal(await store.apnsToken('aa'), undefined);
    // Nor does a refused move take the token from its device.
    await store.registerApnsToken(token('d1', 'bb'));
    await assert.rejects(store.registerApnsToken(token('nope', 'bb')));
    assert.equal((await store.apnsToken('bb'))?.deviceId, 'd1');
  });

  it('APNs tokens: a removed device keeps none, a re-added one starts without them', async () => {
    const store = current();
    await store.registerApnsToken(token('d1', '01'));
    await store.registerApnsToken(token('d1', '02'));
    await store.registerApnsToken(token('d2', '03'));
    await store.removeDevice('d1');
    assert.equal(await store.apnsToken('01'), undefined);
    assert.equal(await store.removeApnsToken('02'), false);
    await store.addDevice(device('d1'));
    assert.deepEqual(await store.apnsTokensOf('d1'), []);
    assert.equal((await store.apnsToken('03'))?.deviceId, 'd2');
    // The same token registered again after the removal is a new registration that sticks.
    await store.registerApnsToken(token('d1', '01', { updatedAt: T0 + 9 }));
    assert.equal((await store.apnsToken('01'))?.updatedAt, T0 + 9);
  });

  it('APNs tokens: removing a device concurrently with registering never leaves a token on a removed device', async () => {
    const store = current();
    // Issued without awaiting, in one turn: whichever order a backend runs them in, the device ends up
    // removed, and no registration of it may outlive it.
    const results = await Promise.allSettled([
      store.registerApnsToken(token('d1', '0a')),
      store.removeDevice('d1'),
      store.registerApnsToken(token('d1', '0b')),
    ]);
    assert.equal(results[1]?.status, 'fulfilled');
    assert.equal(await store.getDevice('d1'), undefined);
    assert.equal(await store.apnsToken('0a'), undefined);
    assert.equal(await store.apnsToken('0b'), undefined);
    assert.deepEqual(await store.apnsTokensOf('d1'), []);
  });
}
