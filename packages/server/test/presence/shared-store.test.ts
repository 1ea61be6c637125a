/**
 * Two engines over one store, as two nodes of a cluster are: a device connected to engine A must see
 * its seqs in order even when engine B enqueued one of them. Before `sharedStore`, A wrote its own new
 * message straight from the enqueue result and skipped B's: the device's cumulative ack (and its resume
 * cursor) then acknowledged a message it never received — found by the node-kill test as messages
 * `acked` in the store that no app had seen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import { createDeliveryEngine } from '../../src/engine/engine.js';
import { createMemoryStore } from '../../src/store/index.js';
import { FakeSession } from '../helpers/fake-session.js';

test('an engine on a shared store writes another writer’s earlier seq before its own', async () => {
  const store = createMemoryStore();
  const clock = new ManualClock();
  await store.addDevice({ id: 'd1', label: null, credentialHash: 'x', createdAt: 0 });
  const a = createDeliveryEngine({ store, clock, sharedStore: true });
  const b = createDeliveryEngine({ store, clock, sharedStore: true });
  try {
    const session = new FakeSession('d1').connect(a);
    await a.idle();
    const first = await b.submit({
      deviceId: 'd1',
      id: 'from-b',
      kind: 'message',
      payload: {},
      priority: 10,
    });
    assert.equal(first.status, 'queued');
    const second = await a.submit({
      deviceId: 'd1',
      id: 'from-a',
      kind: 'message',
      payload: {},
      priority: 10,
    });
    await a.idle();
    assert.equal(second.seq, 2);
    assert.deepEqual(session.seqs, [1, 2]);
  } finally {
    await a.close();
    await b.close();
  }
});
