/**
 * The engine's fast paths — submit groups, direct writes, deferred markSent, merged acks — on both
 * stores: SQLite's group commit resolves a whole turn's operations together, which is where ordering
 * mistakes would show, and the memory store resolves each at once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import { createDeliveryEngine, type DeliveryEngineOptions } from '../../src/engine/engine.js';
import { createMemoryStore, openSqliteStore } from '../../src/store/index.js';
import type { Receipt, Store } from '../../src/store/types.js';
import { FakeSession } from '../helpers/fake-session.js';
import { request } from './helpers.js';

type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const factories: [string, StoreFactory][] = [
  [
    'memory',
    () => {
      const store = createMemoryStore();
      return Promise.resolve({ store, cleanup: () => store.close() });
    },
  ],
  [
    'sqlite',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'localpush-engine-'));
      const store = await openSqliteStore({ path: join(dir, 'localpush.db') });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  ],
];

async function setupOn(factory: StoreFactory, options: Partial<DeliveryEngineOptions> = {}) {
  const { store, cleanup } = await factory();
  const clock = new ManualClock();
  const engine = createDeliveryEngine({ store, clock, options });
  const receipts: Receipt[] = [];
  engine.onReceipt((receipt) => receipts.push(receipt));
  await store.addDevice({ id: 'd1', credentialHash: '00', label: null, createdAt: clock.now() });
  return {
    store,
    clock,
    engine,
    receipts,
    eventsOf: (id: string) => receipts.filter((r) => r.messageId === id).map((r) => r.event),
    close: async () => {
      await engine.close();
      await cleanup();
    },
  };
}

const ids = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

for (const [name, factory] of factories) {
  describe(`fast paths on the ${name} store`, () => {
    test('concurrent submits to an online device keep call order in seq, on the wire and in the store', async () => {
      const t = await setupOn(factory, { maxInFlightPerDevice: 1000 });
      const session = new FakeSession('d1').connect(t.engine);
      await t.engine.idle();
      const outcomes = await Promise.all(ids(40).map((id) => t.engine.submit(request('d1', { id }))));
      assert.deepEqual(
        outcomes.map((o) => [o.seq, o.status]),
        ids(40).map((_, i) => [i + 1, 'sent']),
      );
      assert.deepEqual(
        session.seqs,
        ids(40).map((_, i) => i + 1),
      );
      // The deferred markSent is queued before any later store call, so a read sees it.
      assert.equal((await t.store.getMessage('m40'))?.state, 'sent');
      assert.deepEqual(await t.store.receipts('m7').then((r) => r.map((x) => x.event)), ['accepted', 'sent']);
      // More in a second wave: the device is caught up, so they go out directly, after the first.
      await Promise.all(ids(5, 'n').map((id) => t.engine.submit(request('d1', { id }))));
      assert.deepEqual(session.seqs.slice(-5), [41, 42, 43, 44, 45]);
      await t.close();
    });

    test('a window that fills within a group queues the rest; acks release them in seq order', async () => {
      const t = await setupOn(factory, { maxInFlightPerDevice: 2 });
      const session = new FakeSession('d1').connect(t.engine);
      await t.engine.idle();
      const outcomes = await Promise.all(ids(5).map((id) => t.engine.submit(request('d1', { id }))));
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['sent', 'sent', 'queued', 'queued', 'queued'],
      );
      // Merged acks: both apply, the window refills from the store's backlog in order.
      session.ack(t.engine, { ids: ['m1'] });
      session.ack(t.engine, { ids: ['m2'] });
      await t.engine.idle();
      assert.deepEqual(session.seqs, [1, 2, 3, 4]);
      assert.equal((await t.store.getMessage('m2'))?.state, 'acked');
      session.ack(t.engine, { through: 4 });
      await t.engine.idle();
      assert.deepEqual(session.seqs, [1, 2, 3, 4, 5]);
      // Caught up again: a new submit goes out directly.
      assert.equal((await t.engine.submit(request('d1', { id: 'm6' }))).status, 'sent');
      assert.deepEqual(session.seqs, [1, 2, 3, 4, 5, 6]);
      await t.close();
    });

    test('a message collapsed by a later one of the same group is never written', async () => {
      const t = await setupOn(factory);
      const session = new FakeSession('d1').connect(t.engine);
      await t.engine.idle();
      const [a, b] = await Promise.all([
        t.engine.submit(request('d1', { id: 'a', collapseId: 'c' })),
        t.engine.submit(request('d1', { id: 'b', collapseId: 'c' })),
      ]);
      assert.equal(a?.seq, 1);
      assert.equal(b?.status, 'sent');
      await t.engine.idle();
      assert.deepEqual(
        session.pushes.map((p) => p.id),
        ['b'],
      );
      assert.deepEqual(t.eventsOf('a'), ['accepted', 'collapsed']);
      assert.deepEqual(
        (await t.store.receipts('a')).map((r) => r.event),
        ['accepted', 'collapsed'],
      );
      await t.close();
    });

    test('a group to an unknown device stores nothing; duplicates, conflicts and expired ones keep their order', async () => {
      const t = await setupOn(factory);
      const unknown = await Promise.all(ids(3).map((id) => t.engine.submit(request('nobody', { id }))));
      assert.deepEqual(
        unknown.map((o) => o.status),
        ['unknown_device', 'unknown_device', 'unknown_device'],
      );
      assert.equal(await t.store.getMessage('m1'), undefined);

      const past = Math.floor(t.clock.now() / 1000) - 10;
      const mixed = await Promise.all([
        t.engine.submit(request('d1', { id: 'x' })),
        t.engine.submit(request('d1', { id: 'zero', expiration: 0 })),
        t.engine.submit(request('d1', { id: 'x' })),
        t.engine.submit(request('d1', { id: 'x', payload: 'again' })),
        t.engine.submit(request('d1', { id: 'x', expiration: past })),
        t.engine.submit(request('d1', { id: 'y' })),
      ]);
      assert.deepEqual(
        mixed.map((o) => [o.id, o.status, o.duplicate, o.seq, o.conflict?.reason]),
        [
          ['x', 'queued', false, 1, undefined],
          ['zero', 'expired', false, 2, undefined],
          ['x', 'queued', true, 1, undefined],
          ['x', 'conflict', false, undefined, 'other_content'],
          ['x', 'conflict', false, undefined, 'other_content'],
          ['y', 'queued', false, 3, undefined],
        ],
      );
      assert.deepEqual(t.eventsOf('x'), ['accepted']);
      assert.deepEqual(t.eventsOf('zero'), ['accepted', 'expired']);
      await t.close();
    });

    test('a reconnect during a group leaves nothing behind and nothing out of order', async () => {
      const t = await setupOn(factory, { maxInFlightPerDevice: 1000 });
      const first = new FakeSession('d1').connect(t.engine);
      await t.engine.idle();
      const pending = Promise.all(ids(10).map((id) => t.engine.submit(request('d1', { id }))));
      first.disconnect(t.engine);
      const second = new FakeSession('d1').connect(t.engine);
      await pending;
      await t.engine.idle();
      assert.deepEqual(
        second.seqs,
        ids(10).map((_, i) => i + 1),
      );
      second.ackAll(t.engine);
      await t.engine.idle();
      assert.equal(await t.store.pendingCount('d1'), 0);
      await t.close();
    });
  });
}
