/**
 * Property tests of the conformance suite: random sequences of enqueue / recordExpired / markSent /
 * acknowledge / expireDue / markFallenBack with a moving clock must keep the store's invariants, and
 * every result must equal what the in-memory store (the reference) returns for the same sequence.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { createMemoryStore } from '../../src/store/memory.js';
import { isUndelivered } from '../../src/store/rules.js';
import type { NewMessage, Store, StoredMessage } from '../../src/store/types.js';
import { T0, device, type StoreFactory } from './fixtures.js';

const DEVICES = ['p0', 'p1', 'p2'] as const;
const TERMINAL = new Set<string>(['acked', 'expired', 'collapsed', 'overflowed', 'fallen_back']);

const deviceIndex = fc.integer({ min: 0, max: DEVICES.length - 1 });
const operation = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('enqueue' as const),
      device: deviceIndex,
      collapseId: fc.constantFrom(null, 'a', 'b'),
      expiry: fc.constantFrom('zero', 'soon', 'far'),
      reuse: fc.option(fc.nat(), { freq: 8 }),
      bound: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('recordExpired' as const), device: deviceIndex }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('markSent' as const),
      device: deviceIndex,
      seqs: fc.array(fc.integer({ min: 1, max: 25 }), { maxLength: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('ack' as const),
      device: deviceIndex,
      through: fc.option(fc.integer({ min: 0, max: 25 })),
      picks: fc.array(fc.nat(), { maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('expire' as const),
      advance: fc.integer({ min: 0, max: 70_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fallback' as const), pick: fc.nat() }) },
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

/** Registers the property tests; each run gets fresh stores from the factory. STORE_PROPERTY_RUNS=n for more. */
export function runStoreProperties(factory: StoreFactory): void {
  it('keeps its invariants and agrees with the reference over random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 40 }), async (operations) => {
        const { store, cleanup } = await factory();
        const reference = createMemoryStore();
        try {
          await replay(store, reference, operations);
        } finally {
          await reference.close();
          await cleanup();
        }
      }),
      { numRuns: Number(process.env['STORE_PROPERTY_RUNS'] ?? 60) },
    );
  });
}

async function replay(store: Store, reference: Store, operations: readonly Operation[]): Promise<void> {
  for (const id of DEVICES) {
    await store.addDevice(device(id));
    await reference.addDevice(device(id));
  }
  let now = T0;
  const known: string[] = [];
  const lastSeq = new Map<string, number>();
  const both = async <T>(run: (s: Store) => Promise<T>, normalize: (r: T) => T = (r) => r): Promise<T> => {
    const actual = normalize(await run(store));
    assert.deepEqual(actual, normalize(await run(reference)));
    return actual;
  };

  /**
   * Like `both` for an operation that may be refused with a coded StoreError: the two stores must give
   * the same result, or refuse with the same code and reason. Undefined when refused.
   */
  const refusedOr = async <T>(run: (s: Store) => Promise<T>): Promise<T | undefined> => {
    const settle = (p: Promise<T>) =>
      p.then(
        (value) => ({ value }),
        (error: unknown) => {
          const code = (error as { code?: unknown }).code;
          if (code === undefined) throw error;
          return { refused: { code, reason: (error as { reason?: unknown }).reason } };
        },
      );
    const actual = await settle(run(store));
    assert.deepEqual(actual, await settle(run(reference)));
    return 'value' in actual ? actual.value : undefined;
  };

  for (const [step, o] of operations.entries()) {
    now += 10;
    switch (o.op) {
      case 'enqueue': {
        const deviceId = DEVICES[o.device] ?? 'p0';
        const reused = o.reuse === null ? undefined : known[o.reuse % Math.max(1, known.length)];
        const input = newMessage(reused ?? `x${step}`, deviceId, now, o.collapseId, o.expiry);
        // A reused id is a duplicate (same device and content) or refused as a conflict: both stores must
        // say the same, and a refusal must change nothing (the invariants and reads below check that).
        const result = await refusedOr((s) => s.enqueue(input, { maxQueuePerDevice: o.bound }));
        if (result !== undefined && !result.duplicate) {
          known.push(input.id);
          assert.ok(result.message.seq > (lastSeq.get(deviceId) ?? 0), 'seqs strictly increase per device');
          lastSeq.set(deviceId, result.message.seq);
        }
        break;
      }
      case 'recordExpired': {
        const deviceId = DEVICES[o.device] ?? 'p0';
        const stored = await both((s) =>
          s.recordExpired(newMessage(`x${step}`, deviceId, now, null, 'zero'), now),
        );
        known.push(stored.id);
        assert.ok(stored.seq > (lastSeq.get(deviceId) ?? 0), 'seqs strictly increase per device');
        lastSeq.set(deviceId, stored.seq);
        break;
      }
      case 'markSent':
        await both((s) => s.markSent(DEVICES[o.device] ?? 'p0', o.seqs, now));
        break;
      case 'ack': {
        const picked = o.picks.map((p) => known[p % Math.max(1, known.length)] ?? 'none');
        const ack = o.through === null ? { ids: picked } : { ids: picked, through: o.through };
        const acked = await both((s) => s.acknowledge(DEVICES[o.device] ?? 'p0', ack, now));
        for (const m of acked) assert.equal(m.state, 'acked');
        break;
      }
      case 'expire':
        now += o.advance;
        await both((s) => s.expireDue(now));
        break;
      case 'fallback':
        await both((s) => s.markFallenBack(known[o.pick % Math.max(1, known.length)] ?? 'none', now, 'apns'));
        break;
    }
    await checkInvariants(store, now);
    for (const id of DEVICES) {
      await both((s) => s.deliverable(id, 0, now, 10_000));
      await both((s) => s.deliverable(id, step % 4, now + 30_000, 3));
    }
  }
  for (const id of DEVICES) {
    const mine = await both((s) => s.listMessages(id, { limit: 1000 }));
    for (const m of mine) await both((s) => s.receipts(m.id));
  }
}

function newMessage(
  id: string,
  deviceId: string,
  now: number,
  collapseId: string | null,
  expiry: 'zero' | 'soon' | 'far',
): NewMessage {
  const seconds = Math.floor(now / 1000);
  const expiration = expiry === 'zero' ? 0 : expiry === 'soon' ? seconds + 30 : seconds + 100_000;
  return {
    id,
    deviceId,
    kind: 'message',
    payload: { id },
    priority: 10,
    expiration,
    collapseId,
    acceptedAt: now,
  };
}

async function checkInvariants(store: Store, now: number): Promise<void> {
  for (const deviceId of DEVICES) {
    const all = await store.listMessages(deviceId, { limit: 10_000 });
    for (let i = 1; i < all.length; i++) {
      assert.ok((all[i - 1]?.seq ?? 0) > (all[i]?.seq ?? 0), 'listMessages is newest first, seqs unique');
    }
    const byId = new Map<string, StoredMessage>(all.map((m) => [m.id, m]));
    const undelivered = all.filter((m) => isUndelivered(m.state));
    assert.equal(await store.pendingCount(deviceId), undelivered.length);
    const deliverable = await store.deliverable(deviceId, 0, now, 10_000);
    for (const m of deliverable) {
      const stored = byId.get(m.id);
      assert.ok(stored !== undefined && isUndelivered(stored.state), 'deliverable ⊆ undelivered');
      assert.notEqual(m.state, 'acked');
    }
    for (const m of all) {
      const events = (await store.receipts(m.id)).map((r) => r.event);
      assert.equal(events[0], 'accepted', 'receipts start with accepted');
      const terminal = events.filter((e) => TERMINAL.has(e));
      assert.ok(terminal.length <= 1, `at most one terminal event: ${events.join(',')}`);
      if (TERMINAL.has(m.state)) {
        assert.equal(events.at(-1), m.state, 'the terminal receipt is last and matches the state');
        assert.notEqual(m.settledAt, null);
      } else {
        assert.equal(terminal.length, 0);
        assert.equal(m.settledAt, null);
      }
    }
  }
}
