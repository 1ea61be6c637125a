/**
 * The one conformance suite every Store backend must pass. Each backend's test file calls
 * runStoreConformance with a factory that returns a fresh, empty store; every `it` gets its own.
 * The rules are those of src/store/types.ts and docs/storage.md.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ServerErrorCode } from '../../src/errors.js';
import { ZERO_EXPIRATION_GRACE_MS, type Store } from '../../src/store/types.js';
import {
  BOUND,
  FAR,
  T0,
  T0_S,
  device,
  events,
  ids,
  message,
  put,
  seqs,
  type StoreFactory,
  type StoreFixture,
} from './fixtures.js';
import { runStoreProperties } from './conformance-properties.js';
import { runTokenConformance } from './conformance-tokens.js';
import { runRetentionConformance } from './conformance-retention.js';

export type { StoreFactory, StoreFixture } from './fixtures.js';

/** Registers the conformance tests for one backend under `describe(name)`. */
export function runStoreConformance(name: string, factory: StoreFactory): void {
  describe(`${name} store conformance`, () => {
    let fixture: StoreFixture;
    let store: Store;
    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      await store.addDevice(device('d1'));
      await store.addDevice(device('d2'));
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('devices', () => {
      it('adds, gets, lists (by id) and removes devices', async () => {
        await store.addDevice(device('a0', { label: 'kitchen', credentialHash: 'cd'.repeat(32) }));
        assert.deepEqual(
          await store.getDevice('a0'),
          device('a0', { label: 'kitchen', credentialHash: 'cd'.repeat(32) }),
        );
        assert.equal(await store.getDevice('nope'), undefined);
        assert.deepEqual(
          (await store.listDevices()).map((d) => d.id),
          ['a0', 'd1', 'd2'],
        );
        assert.equal(await store.removeDevice('a0'), true);
        assert.equal(await store.removeDevice('a0'), false);
        assert.equal(await store.getDevice('a0'), undefined);
      });

      it('refuses a duplicate id with STORE_DEVICE_EXISTS and keeps the original', async () => {
        await assert.rejects(store.addDevice(device('d1', { label: 'other' })), {
          code: ServerErrorCode.STORE_DEVICE_EXISTS,
        });
        assert.equal((await store.getDevice('d1'))?.label, null);
      });

      it('removing a device deletes its messages and receipts, not other devices’', async () => {
        const gone = await put(store, 'd1');
        const kept = await put(store, 'd2');
        await store.removeDevice('d1');
        assert.equal(await store.getMessage(gone.id), undefined);
        assert.deepEqual(await store.receipts(gone.id), []);
        assert.equal(await store.pendingCount('d1'), 0);
        assert.deepEqual(await events(store, kept.id), ['accepted']);
      });

      it('a re-added device continues after its old seqs (never reused)', async () => {
        await put(store, 'd1');
        await put(store, 'd1');
        await store.removeDevice('d1');
        await store.addDevice(device('d1'));
        assert.equal((await put(store, 'd1')).seq, 3);
      });
    });

    describe('enqueue', () => {
      it('assigns per-device seqs 1, 2, 3 and records accepted', async () => {
        const a = await put(store, 'd1');
        const b = await put(store, 'd2');
        const c = await put(store, 'd1');
        assert.deepEqual([a.seq, b.seq, c.seq], [1, 1, 2]);
        assert.equal(a.state, 'queued');
        assert.equal(a.sentAt, null);
        assert.equal(a.settledAt, null);
        assert.deepEqual(await store.receipts(a.id), [
          { messageId: a.id, deviceId: 'd1', event: 'accepted', at: T0, detail: null },
        ]);
      });

      it('keeps every field, including nested JSON and unicode', async () => {
        const input = message('d1', {
          kind: 'call',
          priority: 5,
          payload: { nested: { list: [1, 2.5, null, true, 'x'] }, emoji: 'ü 🚀', empty: {} },
          collapseId: 'c-1',
          expiration: FAR,
          acceptedAt: T0 + 7,
        });
        const { message: stored } = await store.enqueue(input, BOUND);
        const expected = { ...input, seq: 1, state: 'queued', sentAt: null, settledAt: null };
        assert.deepEqual(stored, expected);
        assert.deepEqual(await store.getMessage(input.id), expected);
      });

      it('is idempotent by id for the same device and content: the existing message, no new receipt, no seq used', async () => {
        const input = message('d1', { id: 'same', payload: { a: 1, b: [true, null] }, collapseId: 'c' });
        const first = await store.enqueue(input, BOUND);
        // A retry: same content (object members in another order), later.
        const again = await store.enqueue(
          { ...input, payload: { b: [true, null], a: 1 }, acceptedAt: T0 + 5 },
          BOUND,
        );
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.message, first.message);
        assert.deepEqual(again.collapsed, []);
        assert.deepEqual(again.overflowed, []);
        assert.deepEqual(await events(store, 'same'), ['accepted']);
        assert.equal((await put(store, 'd1')).seq, 2);
        // Still a duplicate once settled.
        await store.acknowledge('d1', { ids: ['same'] }, T0 + 1);
        const late = await store.enqueue(input, BOUND);
        assert.equal(late.duplicate, true);
        assert.equal(late.message.state, 'acked');
        // A retry that left the expiration to the server's default matches whatever the first copy got.
        const defaulted = await store.enqueue(
          { ...input, expiration: FAR + 999, defaultExpiration: true },
          BOUND,
        );
        assert.equal(defaulted.duplicate, true);
        assert.equal(defaulted.message.expiration, FAR);
        // The flag itself is not stored.
        const fresh = await store.enqueue(message('d1', { defaultExpiration: true }), BOUND);
        assert.equal('defaultExpiration' in fresh.message, false);
        assert.equal('defaultExpiration' in (await store.getMessage(fresh.message.id))!, false);
      });

      it('refuses an id already used for another device with MESSAGE_ID_CONFLICT, storing nothing', async () => {
        const first = await put(store, 'd1', { id: 'shared' });
        for (const state of ['queued', 'acked'] as const) {
          if (state === 'acked') await store.acknowledge('d1', { ids: ['shared'] }, T0 + 1);
          await assert.rejects(store.enqueue(message('d2', { id: 'shared' }), BOUND), {
            code: ServerErrorCode.STORE_MESSAGE_ID_CONFLICT,
            reason: 'other_device',
          });
          await assert.rejects(store.recordExpired(message('d2', { id: 'shared', expiration: 0 }), T0), {
            code: ServerErrorCode.STORE_MESSAGE_ID_CONFLICT,
            reason: 'other_device',
          });
        }
        assert.equal((await store.getMessage('shared'))?.deviceId, 'd1');
        assert.deepEqual(await events(store, 'shared'), ['accepted', 'acked']);
        assert.equal(await store.pendingCount('d2'), 0);
        // No seq was used up on either device.
        assert.equal((await put(store, 'd2')).seq, 1);
        assert.equal((await put(store, 'd1')).seq, first.seq + 1);
      });

      it('refuses an id already used with other content with MESSAGE_ID_CONFLICT, storing nothing', async () => {
        const input = message('d1', { id: 'same', payload: { a: 1 }, collapseId: 'c', priority: 10 });
        const stored = (await store.enqueue(input, BOUND)).message;
        const others: Partial<typeof input>[] = [
          { payload: { a: 2 } },
          { payload: { a: 1, b: 1 } },
          { payload: [1] },
          { kind: 'call' },
          { priority: 5 },
          { collapseId: null },
          { collapseId: 'd' },
          { expiration: FAR + 1 },
        ];
        for (const other of others) {
          await assert.rejects(
            store.enqueue({ ...input, ...other }, BOUND),
            { code: ServerErrorCode.STORE_MESSAGE_ID_CONFLICT, reason: 'other_content' },
            JSON.stringify(other),
          );
        }
        await assert.rejects(store.recordExpired({ ...input, expiration: 0 }, T0), {
          code: ServerErrorCode.STORE_MESSAGE_ID_CONFLICT,
          reason: 'other_content',
        });
        assert.deepEqual(await store.getMessage('same'), stored);
        assert.deepEqual(await events(store, 'same'), ['accepted']);
        assert.equal((await put(store, 'd1')).seq, 2);
      });

      it('collapses older undelivered messages (queued or sent) with the same collapse id, same device only', async () => {
        const acked = await put(store, 'd1', { collapseId: 'k' });
        await store.acknowledge('d1', { ids: [acked.id] }, T0 + 1);
        const queued = await put(store, 'd1', { collapseId: 'k' });
        const otherKey = await put(store, 'd1', { collapseId: 'j' });
        const noKey = await put(store, 'd1');
        const otherDevice = await put(store, 'd2', { collapseId: 'k' });

        const mid = await store.enqueue(
          message('d1', { id: 'mid', collapseId: 'k', acceptedAt: T0 + 5 }),
          BOUND,
        );
        assert.deepEqual(ids(mid.collapsed), [queued.id]);
        assert.deepEqual([mid.collapsed[0]?.state, mid.collapsed[0]?.settledAt], ['collapsed', T0 + 5]);
        assert.deepEqual(await store.receipts(queued.id), [
          { messageId: queued.id, deviceId: 'd1', event: 'accepted', at: T0, detail: null },
          { messageId: queued.id, deviceId: 'd1', event: 'collapsed', at: T0 + 5, detail: 'mid' },
        ]);
        await store.markSent('d1', [mid.message.seq], T0 + 6);
        const result = await store.enqueue(
          message('d1', { id: 'new', collapseId: 'k', acceptedAt: T0 + 9 }),
          BOUND,
        );
        assert.deepEqual(ids(result.collapsed), ['mid']);
        assert.equal(result.message.seq, 6);
        assert.deepEqual(await events(store, 'mid'), ['accepted', 'sent', 'collapsed']);
        for (const untouched of [otherKey, noKey, otherDevice]) {
          assert.equal((await store.getMessage(untouched.id))?.state, 'queued');
        }
        assert.equal((await store.getMessage(acked.id))?.state, 'acked');
        assert.deepEqual(ids(await store.deliverable('d1', 0, T0, 10)), [otherKey.id, noKey.id, 'new']);
      });

      it('overflows the oldest undelivered messages beyond the bound', async () => {
        const bound = { maxQueuePerDevice: 3 };
        const first = await put(store, 'd1');
        await store.acknowledge('d1', { ids: [first.id] }, T0);
        const all = [];
        for (let i = 0; i < 4; i++) all.push((await store.enqueue(message('d1'), bound)).message);
        const result = await store.enqueue(message('d1', { id: 'newest', acceptedAt: T0 + 3 }), bound);
        assert.deepEqual(ids(result.overflowed), [all[1]?.id]);
        assert.equal(result.overflowed[0]?.state, 'overflowed');
        assert.equal((await store.getMessage(all[0]?.id ?? ''))?.state, 'overflowed');
        assert.deepEqual((await store.receipts(all[1]?.id ?? '')).at(-1), {
          messageId: all[1]?.id,
          deviceId: 'd1',
          event: 'overflowed',
          at: T0 + 3,
          detail: 'newest',
        });
        assert.equal(await store.pendingCount('d1'), 3);
        assert.equal((await store.getMessage(first.id))?.state, 'acked');
      });

      it('collapses before applying the bound, so a collapse makes room', async () => {
        const bound = { maxQueuePerDevice: 2 };
        const a = (await store.enqueue(message('d1', { collapseId: 'k' }), bound)).message;
        const b = (await store.enqueue(message('d1'), bound)).message;
        const result = await store.enqueue(message('d1', { collapseId: 'k' }), bound);
        assert.deepEqual(ids(result.collapsed), [a.id]);
        assert.deepEqual(result.overflowed, []);
        assert.equal((await store.getMessage(b.id))?.state, 'queued');
      });

      it('treats a bound below 1 as 1: the new message is never dropped', async () => {
        const a = await put(store, 'd1');
        const result = await store.enqueue(message('d1'), { maxQueuePerDevice: 0 });
        assert.deepEqual(ids(result.overflowed), [a.id]);
        assert.equal(result.message.state, 'queued');
        assert.equal(await store.pendingCount('d1'), 1);
      });

      it('rejects a message for an unknown device and stores nothing', async () => {
        const m = message('ghost');
        await assert.rejects(store.enqueue(m, BOUND));
        assert.equal(await store.getMessage(m.id), undefined);
      });
    });

    describe('recordExpired', () => {
      it('stores the message as expired with a seq and accepted + expired receipts', async () => {
        await put(store, 'd1');
        const m = message('d1', { expiration: 0, acceptedAt: T0 });
        const stored = await store.recordExpired(m, T0 + 2);
        assert.deepEqual(stored, { ...m, seq: 2, state: 'expired', sentAt: null, settledAt: T0 + 2 });
        assert.deepEqual(await store.receipts(m.id), [
          { messageId: m.id, deviceId: 'd1', event: 'accepted', at: T0, detail: null },
          { messageId: m.id, deviceId: 'd1', event: 'expired', at: T0 + 2, detail: null },
        ]);
        assert.equal(await store.pendingCount('d1'), 1);
        assert.deepEqual(seqs(await store.deliverable('d1', 0, T0, 10)), [1]);
        assert.equal((await put(store, 'd1')).seq, 3);
        // Idempotent like enqueue: same device, same content.
        assert.deepEqual(await store.recordExpired(m, T0 + 9), stored);
        assert.equal((await store.enqueue(m, BOUND)).duplicate, true);
        // Stored without the flag that says its expiration was a default.
        assert.equal(
          'defaultExpiration' in (await store.recordExpired({ ...m, defaultExpiration: true }, T0)),
          false,
        );
      });

      // The engine relies on this instead of reading the device first.
      it('rejects a message for an unknown device and stores nothing', async () => {
        const m = message('ghost', { expiration: 0 });
        await assert.rejects(store.recordExpired(m, T0));
        assert.equal(await store.getMessage(m.id), undefined);
      });
    });

    describe('deliverable', () => {
      it('returns undelivered messages after a seq, ascending, limited', async () => {
        const ms = [];
        for (let i = 0; i < 6; i++) ms.push(await put(store, 'd1'));
        await put(store, 'd2');
        await store.acknowledge('d1', { ids: [ms[2]?.id ?? ''] }, T0);
        await store.markSent('d1', [4], T0);
        assert.deepEqual(seqs(await store.deliverable('d1', 0, T0, 100)), [1, 2, 4, 5, 6]);
        assert.deepEqual(seqs(await store.deliverable('d1', 1, T0, 3)), [2, 4, 5]);
        assert.deepEqual(seqs(await store.deliverable('d1', 6, T0, 10)), []);
        assert.deepEqual(await store.deliverable('d1', 0, T0, 0), []);
        assert.deepEqual(await store.deliverable('nobody', 0, T0, 10), []);
      });

      it('leaves out messages whose expiration passed (expiration*1000 <= now)', async () => {
        const soon = await put(store, 'd1', { expiration: T0_S + 10 });
        const later = await put(store, 'd1', { expiration: T0_S + 20 });
        assert.deepEqual(ids(await store.deliverable('d1', 0, T0 + 9_999, 10)), [soon.id, later.id]);
        assert.deepEqual(ids(await store.deliverable('d1', 0, T0 + 10_000, 10)), [later.id]);
      });

      it('sends an expiration-0 message once, redelivers others', async () => {
        const once = await put(store, 'd1', { expiration: 0 });
        const again = await put(store, 'd1');
        assert.deepEqual(ids(await store.deliverable('d1', 0, T0, 10)), [once.id, again.id]);
        await store.markSent('d1', [once.seq, again.seq], T0 + 1);
        assert.deepEqual(ids(await store.deliverable('d1', 0, T0 + 2, 10)), [again.id]);
      });

      it('drops a still-queued expiration-0 message after the grace period', async () => {
        const once = await put(store, 'd1', { expiration: 0 });
        const grace = T0 + ZERO_EXPIRATION_GRACE_MS;
        assert.deepEqual(ids(await store.deliverable('d1', 0, grace - 1, 10)), [once.id]);
        assert.deepEqual(await store.deliverable('d1', 0, grace, 10), []);
      });
    });

    describe('markSent', () => {
      it('moves queued to sent, keeps the first sentAt and records each send', async () => {
        const m = await put(store, 'd1');
        const other = await put(store, 'd2');
        await store.markSent('d1', [m.seq, 99], T0 + 1);
        await store.markSent('d1', [m.seq], T0 + 5);
        const stored = await store.getMessage(m.id);
        assert.equal(stored?.state, 'sent');
        assert.equal(stored?.sentAt, T0 + 1);
        assert.deepEqual(
          (await store.receipts(m.id)).map((r) => [r.event, r.at]),
          [
            ['accepted', T0],
            ['sent', T0 + 1],
            ['sent', T0 + 5],
          ],
        );
        assert.equal((await store.getMessage(other.id))?.state, 'queued');
      });

      it('leaves settled messages alone', async () => {
        const m = await put(store, 'd1');
        await store.acknowledge('d1', { through: 1 }, T0 + 1);
        await store.markSent('d1', [m.seq], T0 + 2);
        assert.equal((await store.getMessage(m.id))?.state, 'acked');
        assert.deepEqual(await events(store, m.id), ['accepted', 'acked']);
      });
    });

    describe('acknowledge', () => {
      it('acks by id, returns only newly acked, ignores other devices’ and unknown ids', async () => {
        const a = await put(store, 'd1');
        const b = await put(store, 'd1');
        const foreign = await put(store, 'd2');
        await store.markSent('d1', [a.seq], T0);
        const acked = await store.acknowledge('d1', { ids: [a.id, b.id, foreign.id, 'unknown'] }, T0 + 4);
        assert.deepEqual(ids(acked), [a.id, b.id]);
        assert.deepEqual(
          acked.map((m) => [m.state, m.settledAt]),
          [
            ['acked', T0 + 4],
            ['acked', T0 + 4],
          ],
        );
        assert.deepEqual(await store.acknowledge('d1', { ids: [a.id] }, T0 + 5), []);
        assert.equal((await store.getMessage(foreign.id))?.state, 'queued');
        assert.deepEqual(await events(store, a.id), ['accepted', 'sent', 'acked']);
        assert.equal(await store.pendingCount('d1'), 0);
      });

      it('acks cumulatively through a seq, combined with ids, without touching settled ones', async () => {
        const collapsedAway = await put(store, 'd1', { collapseId: 'k' });
        await put(store, 'd1', { collapseId: 'k' });
        await put(store, 'd1');
        const fourth = await put(store, 'd1');
        await put(store, 'd1');
        await put(store, 'd2');
        const acked = await store.acknowledge('d1', { through: 3, ids: [fourth.id] }, T0 + 1);
        assert.deepEqual(seqs(acked), [2, 3, 4]);
        assert.equal((await store.getMessage(collapsedAway.id))?.state, 'collapsed');
        assert.deepEqual(seqs(await store.deliverable('d1', 0, T0, 10)), [5]);
        assert.equal(await store.pendingCount('d2'), 1);
        assert.deepEqual(await store.acknowledge('d1', {}, T0), []);
      });
    });

    describe('expireDue', () => {
      it('expires queued and sent messages whose expiration passed, once, by device then seq', async () => {
        const queued = await put(store, 'd1', { expiration: T0_S + 1 });
        const sent = await put(store, 'd2', { expiration: T0_S + 1 });
        const acked = await put(store, 'd1', { expiration: T0_S + 1 });
        const later = await put(store, 'd1', { expiration: T0_S + 2 });
        await store.markSent('d2', [sent.seq], T0);
        await store.acknowledge('d1', { ids: [acked.id] }, T0);
        assert.deepEqual(await store.expireDue(T0 + 999), []);
        const expired = await store.expireDue(T0 + 1000);
        assert.deepEqual(ids(expired), [queued.id, sent.id], 'ordered by device id, then seq');
        for (const m of expired) assert.deepEqual([m.state, m.settledAt], ['expired', T0 + 1000]);
        assert.deepEqual(await store.expireDue(T0 + 1500), []);
        assert.deepEqual(await events(store, sent.id), ['accepted', 'sent', 'expired']);
        assert.equal((await store.getMessage(acked.id))?.state, 'acked');
        assert.equal((await store.getMessage(later.id))?.state, 'queued');
      });

      it('settles expiration-0 messages (queued or sent) once the grace period is over', async () => {
        const sent = await put(store, 'd1', { expiration: 0 });
        const queued = await put(store, 'd1', { expiration: 0, acceptedAt: T0 + 10 });
        await store.markSent('d1', [sent.seq], T0 + 1);
        assert.deepEqual(await store.expireDue(T0 + ZERO_EXPIRATION_GRACE_MS - 1), []);
        assert.equal((await store.getMessage(sent.id))?.state, 'sent');
        assert.deepEqual(ids(await store.expireDue(T0 + ZERO_EXPIRATION_GRACE_MS)), [sent.id]);
        assert.deepEqual(ids(await store.expireDue(T0 + ZERO_EXPIRATION_GRACE_MS + 10)), [queued.id]);
      });

      it('agrees with deliverable on what is expired', async () => {
        for (const expiration of [0, T0_S, T0_S + 1, T0_S + 60, FAR]) await put(store, 'd1', { expiration });
        for (const now of [T0, T0 + 1000, T0 + ZERO_EXPIRATION_GRACE_MS]) {
          const deliverable = new Set(ids(await store.deliverable('d1', 0, now, 100)));
          const expired = await store.expireDue(now);
          for (const m of expired) assert.equal(deliverable.has(m.id), false, `${m.id} at ${now}`);
          assert.equal(deliverable.size, await store.pendingCount('d1'));
        }
      });
    });

    describe('markFallenBack', () => {
      it('settles an undelivered message with its detail, and only such a message', async () => {
        const m = await put(store, 'd1');
        const fallen = await store.markFallenBack(m.id, T0 + 3, 'apns');
        assert.deepEqual([fallen?.state, fallen?.settledAt], ['fallen_back', T0 + 3]);
        assert.deepEqual((await store.receipts(m.id)).at(-1)?.detail, 'apns');
        assert.equal(await store.markFallenBack(m.id, T0 + 4, 'apns'), undefined);
        assert.equal(await store.markFallenBack('unknown', T0 + 4, 'apns'), undefined);
        assert.equal(await store.pendingCount('d1'), 0);
      });
    });

    describe('reading', () => {
      it('lists a device’s messages newest first, pages backwards with beforeSeq', async () => {
        for (let i = 0; i < 5; i++) await put(store, 'd1');
        await put(store, 'd2');
        assert.deepEqual(seqs(await store.listMessages('d1', { limit: 3 })), [5, 4, 3]);
        assert.deepEqual(seqs(await store.listMessages('d1', { limit: 3, beforeSeq: 3 })), [2, 1]);
        assert.deepEqual(await store.listMessages('nobody', { limit: 3 }), []);
      });

      it('returns receipts oldest first, same-time receipts in insertion order', async () => {
        const m = await put(store, 'd1');
        await store.markSent('d1', [m.seq], T0);
        await store.markSent('d1', [m.seq], T0);
        await store.acknowledge('d1', { ids: [m.id] }, T0);
        assert.deepEqual(await events(store, m.id), ['accepted', 'sent', 'sent', 'acked']);
        assert.deepEqual(await store.receipts('unknown'), []);
      });

      it('hands out copies: changing a returned message changes nothing stored', async () => {
        const m = await put(store, 'd1', { payload: { a: [1] } });
        try {
          m.state = 'acked';
          (m.payload as { a: number[] }).a.push(2);
        } catch {
          // A frozen payload is fine too.
        }
        const stored = await store.getMessage(m.id);
        assert.equal(stored?.state, 'queued');
        assert.deepEqual(stored?.payload, { a: [1] });
      });
    });

    describe('concurrency', () => {
      it('gives concurrent enqueues in one tick distinct ascending seqs in call order', async () => {
        const inputs = Array.from({ length: 200 }, () => message('d1'));
        const results = await Promise.all(inputs.map((m) => store.enqueue(m, BOUND)));
        assert.deepEqual(
          results.map((r) => r.message.seq),
          inputs.map((_, i) => i + 1),
        );
      });

      it('keeps per-device order with many devices interleaved', async () => {
        const devices = Array.from({ length: 20 }, (_, i) => `dev-${i}`);
        await Promise.all(devices.map((id) => store.addDevice(device(id))));
        const inputs = [];
        for (let round = 0; round < 15; round++) {
          for (const id of devices) inputs.push(message(id, { payload: round }));
        }
        await Promise.all(inputs.map((m) => store.enqueue(m, BOUND)));
        for (const id of devices) {
          const queued = await store.deliverable(id, 0, T0, 100);
          assert.deepEqual(
            seqs(queued),
            Array.from({ length: 15 }, (_, i) => i + 1),
          );
          assert.deepEqual(
            queued.map((m) => m.payload),
            Array.from({ length: 15 }, (_, i) => i),
          );
        }
      });

      it('rejects operations after close', async () => {
        await store.close();
        await assert.rejects(store.getDevice('d1'));
      });
    });

    describe('APNs tokens', () => {
      runTokenConformance(() => store);
    });

    runRetentionConformance(() => store);

    runStoreProperties(factory);
  });
}
