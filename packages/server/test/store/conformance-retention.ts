/**
 * Retention in the conformance suite: every backend prunes settled messages (each terminal state) with
 * their receipts once settled at or before the cut-off, never an undelivered one, in batches no larger
 * than asked, and the device carries on after its pruned seqs. Registered by runStoreConformance, inside
 * its describe, with d1 and d2 registered before each test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Store, StoredMessage } from '../../src/store/types.js';
import { FAR, T0, T0_S, events, ids, message, put, seqs } from './fixtures.js';

/** Prunes in batches of `batch` until a batch deletes nothing; the count of each batch. */
async function pruneAll(store: Store, before: number, batch: number): Promise<number[]> {
  const counts: number[] = [];
  for (;;) {
    const n = await store.prune(before, batch);
    counts.push(n);
    if (n === 0) return counts;
  }
}

/** A message of each terminal state on d1, settled at T0 + 10 (and one undelivered of each kind). */
async function settledOfEveryKind(
  store: Store,
): Promise<{ settled: StoredMessage[]; kept: StoredMessage[] }> {
  const at = T0 + 10;
  const acked = await put(store, 'd1');
  await store.acknowledge('d1', { ids: [acked.id] }, at);
  const expiring = await put(store, 'd1', { expiration: T0_S });
  await store.expireDue(at);
  const fallen = await put(store, 'd1');
  await store.markFallenBack(fallen.id, at, 'apns');
  const collapsedOne = await put(store, 'd1', { collapseId: 'score', acceptedAt: at });
  const collapsing = await put(store, 'd1', { collapseId: 'score', acceptedAt: at });
  const never = await store.recordExpired(message('d1'), at);
  const overflowing = await put(store, 'd2');
  const overflow = (await store.enqueue(message('d2', { acceptedAt: at }), { maxQueuePerDevice: 1 })).message;
  const sent = await put(store, 'd1');
  await store.markSent('d1', [sent.seq], at);
  await store.markSent('d1', [sent.seq], at + 1); // a redelivery: a receipt row of its own
  return {
    settled: [acked, expiring, fallen, collapsedOne, never, overflowing],
    kept: [collapsing, overflow, sent],
  };
}

export function runRetentionConformance(current: () => Store): void {
  describe('prune (retention)', () => {
    it('deletes messages of every terminal state settled by the cut-off, with their receipts', async () => {
      const store = current();
      const { settled, kept } = await settledOfEveryKind(store);
      assert.deepEqual(await pruneAll(store, T0 + 9, 100), [0], 'nothing settled by T0 + 9');
      const counts = await pruneAll(store, T0 + 10, 100);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        settled.length,
      );
      for (const gone of settled) {
        assert.equal(await store.getMessage(gone.id), undefined, gone.id);
        assert.deepEqual(await store.receipts(gone.id), [], gone.id);
      }
      for (const still of kept) assert.notEqual(await store.getMessage(still.id), undefined, still.id);
      assert.deepEqual(await events(store, kept[2]?.id ?? ''), ['accepted', 'sent', 'sent']);
      const listed = ids(await store.listMessages('d1', { limit: 100 }));
      assert.deepEqual(listed.sort(), [kept[0]?.id, kept[2]?.id].sort());
      assert.deepEqual(ids(await store.listMessages('d2', { limit: 100 })), [kept[1]?.id]);
      assert.equal(await store.pendingCount('d1'), 2);
    });

    it('never deletes more than the limit in one call', async () => {
      const store = current();
      const all: StoredMessage[] = [];
      for (let i = 0; i < 7; i++) all.push(await put(store, i % 2 === 0 ? 'd1' : 'd2'));
      for (const m of all) await store.acknowledge(m.deviceId, { ids: [m.id] }, T0 + 1);
      const counts = await pruneAll(store, T0 + 1, 3);
      assert.ok(
        counts.every((n) => n <= 3),
        `batches ${counts.join(', ')}`,
      );
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        7,
      );
      for (const m of all) assert.equal(await store.getMessage(m.id), undefined);
    });

    it('the device carries on: new seqs after the pruned ones, and a pruned id is a new message', async () => {
      const store = current();
      const first = await put(store, 'd1');
      await store.acknowledge('d1', { through: first.seq }, T0 + 1);
      assert.equal(await store.prune(T0 + 1, 10), 1);
      const again = await store.enqueue(message('d1', { id: first.id }), { maxQueuePerDevice: 10 });
      assert.equal(again.duplicate, false);
      assert.ok(again.message.seq > first.seq);
      const next = await put(store, 'd1');
      assert.deepEqual(seqs(await store.deliverable('d1', 0, T0, 10)), [again.message.seq, next.seq]);
      assert.deepEqual(await events(store, first.id), ['accepted']);
      assert.equal((await store.getMessage(first.id))?.expiration, FAR);
    });

    it('leaves a removed device’s history alone and a re-added device unharmed', async () => {
      const store = current();
      const old = await put(store, 'd2');
      await store.acknowledge('d2', { through: old.seq }, T0 + 1);
      await store.removeDevice('d2');
      await store.addDevice({ id: 'd2', credentialHash: 'ab'.repeat(32), label: null, createdAt: T0 });
      const fresh = await put(store, 'd2');
      await pruneAll(store, T0 + 1, 10);
      assert.equal((await store.getMessage(fresh.id))?.state, 'queued');
      assert.equal(await store.pendingCount('d2'), 1);
    });
  });
}
