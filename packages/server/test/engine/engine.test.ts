import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineClosedError, toPush } from '../../src/engine/engine.js';
import type { EnqueueOptions, NewMessage } from '../../src/store/types.js';
import { FakeSession } from '../helpers/fake-session.js';
import { request, setup } from './helpers.js';

describe('submit', () => {
  test('an unknown device stores nothing', async () => {
    const t = await setup();
    const outcome = await t.engine.submit(request('nobody', { id: 'm1' }));
    assert.deepEqual(outcome, { deviceId: 'nobody', id: 'm1', status: 'unknown_device', duplicate: false });
    assert.equal(await t.store.getMessage('m1'), undefined);
    assert.equal(t.receipts.length, 0);
    await t.engine.close();
  });

  test('an offline device gets it queued with a generated id and the default time to live', async () => {
    const t = await setup({ defaultTtlSeconds: 60 });
    const outcome = await t.engine.submit(request('d1'));
    assert.equal(outcome.status, 'queued');
    assert.equal(outcome.seq, 1);
    assert.match(outcome.id, /^[0-9a-f-]{36}$/);
    const stored = await t.store.getMessage(outcome.id);
    assert.equal(stored?.expiration, Math.floor(t.clock.now() / 1000) + 60);
    assert.deepEqual(t.eventsOf(outcome.id), ['accepted']);
    await t.engine.close();
  });

  test('an online device gets the push written at once', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const outcome = await t.engine.submit(
      request('d1', { id: 'm1', collapseId: 'c', expiration: 2_000_000_000 }),
    );
    assert.deepEqual(outcome, { deviceId: 'd1', id: 'm1', status: 'sent', duplicate: false, seq: 1 });
    assert.deepEqual(session.pushes, [
      {
        type: 'push',
        id: 'm1',
        seq: 1,
        kind: 'alert',
        payload: { text: 'hi' },
        priority: 10,
        expiration: 2_000_000_000,
        collapseId: 'c',
      },
    ]);
    assert.equal((await t.store.getMessage('m1'))?.state, 'sent');
    assert.deepEqual(t.eventsOf('m1'), ['accepted', 'sent']);
    await t.engine.close();
  });

  test('expiration 0 to an offline device is recorded as expired, never queued', async () => {
    const t = await setup();
    const outcome = await t.engine.submit(request('d1', { id: 'm0', expiration: 0 }));
    assert.equal(outcome.status, 'expired');
    assert.equal((await t.engine.status('m0'))?.message.state, 'expired');
    assert.deepEqual(t.eventsOf('m0'), ['accepted', 'expired']);
    assert.equal(await t.store.pendingCount('d1'), 0);
    await t.engine.close();
  });

  test('an expiration already past is expired', async () => {
    const t = await setup();
    const past = Math.floor(t.clock.now() / 1000) - 1;
    const outcome = await t.engine.submit(request('d1', { id: 'old', expiration: past }));
    assert.equal(outcome.status, 'expired');
    await t.engine.close();
  });

  test('expiration 0 to an online device is sent once and not redelivered after a reconnect', async () => {
    const t = await setup();
    const first = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.equal((await t.engine.submit(request('d1', { id: 'now', expiration: 0 }))).status, 'sent');
    assert.equal(first.pushes.length, 1);
    first.disconnect(t.engine);
    const second = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.equal(second.pushes.length, 0);
    await t.engine.close();
  });

  test('the same id, device and content again is a duplicate describing the existing message', async () => {
    const t = await setup();
    const first = await t.engine.submit(request('d1', { id: 'same' }));
    const again = await t.engine.submit(request('d1', { id: 'same' }));
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(t.receipts.filter((r) => r.event === 'accepted').length, 1);
    await t.engine.close();
  });

  test('the same id for another device or with other content is a conflict that stores nothing', async () => {
    const t = await setup({}, ['d1', 'd2']);
    const first = await t.engine.submit(request('d1', { id: 'same' }));
    const elsewhere = await t.engine.submit(request('d2', { id: 'same' }));
    assert.equal(elsewhere.status, 'conflict');
    assert.equal(elsewhere.duplicate, false);
    assert.equal(elsewhere.seq, undefined);
    assert.equal(elsewhere.conflict?.reason, 'other_device');
    const changed = await t.engine.submitAndWait(request('d1', { id: 'same', payload: 'other' }), 1000);
    assert.equal(changed.status, 'conflict');
    assert.equal(changed.conflict?.reason, 'other_content');
    assert.equal(t.engine.waiterCount, 0);
    assert.equal(t.receipts.filter((r) => r.event === 'accepted').length, 1);
    assert.equal((await t.store.getMessage('same'))?.seq, first.seq);
    assert.equal(await t.store.pendingCount('d2'), 0);
    await t.engine.close();
  });

  test('concurrent submits to one device keep their call order in seq and on the wire', async () => {
    const t = await setup({ maxInFlightPerDevice: 1000 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.engine.submit(request('d1', { id: `m${i}` }))),
    );
    assert.deepEqual(
      outcomes.map((o) => o.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      session.pushes.map((p) => p.id),
      outcomes.map((o) => o.id),
    );
    await t.engine.close();
  });

  test('a session that cannot take the push leaves the message queued', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    session.acceptPushes = false;
    const outcome = await t.engine.submit(request('d1', { id: 'm1' }));
    assert.equal(outcome.status, 'queued');
    assert.equal((await t.store.getMessage('m1'))?.state, 'queued');
    await t.engine.close();
  });
});

describe('sessions and the window', () => {
  test('the backlog is delivered in seq order on connect', async () => {
    const t = await setup();
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1').connect(t.engine);
    await session.waitForPushes(3);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3]);
    assert.deepEqual(t.eventsOf('m2'), ['accepted', 'sent']);
    await t.engine.close();
  });

  test('the in-flight window bounds writes and acks refill it', async () => {
    const t = await setup({ maxInFlightPerDevice: 2 });
    for (let i = 1; i <= 5; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2]);
    assert.equal(session.ack(t.engine, { through: 1 }), true);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3]);
    session.ack(t.engine, { ids: ['m2', 'm3'] });
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5]);
    // A new submit waits for room too.
    assert.equal((await t.engine.submit(request('d1', { id: 'm6' }))).status, 'queued');
    session.ackAll(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5, 6]);
    assert.equal(await t.store.pendingCount('d1'), 1);
    await t.engine.close();
  });

  test('the resume cursor acknowledges cumulatively and delivery continues after it', async () => {
    const t = await setup();
    const first = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    first.disconnect(t.engine);
    const second = new FakeSession('d1').connect(t.engine, 2);
    await t.engine.idle();
    assert.deepEqual(second.seqs, [3]);
    assert.equal((await t.store.getMessage('m1'))?.state, 'acked');
    assert.deepEqual(t.eventsOf('m2'), ['accepted', 'sent', 'acked']);
    await t.engine.close();
  });

  test('a resume cursor beyond anything sent acknowledges nothing that was never sent', async () => {
    const t = await setup();
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1').connect(t.engine, 99);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3]);
    assert.equal(t.receipts.filter((r) => r.event === 'acked').length, 0);
    await t.engine.close();
  });

  test('an ack beyond the highest seq sent is invalid and changes nothing', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'm1' }));
    await t.engine.submit(request('d1', { id: 'm2' }));
    assert.equal(session.ack(t.engine, { through: 3 }), false);
    await t.engine.idle();
    assert.equal(await t.store.pendingCount('d1'), 2);
    assert.equal(session.ack(t.engine, { through: 2 }), true);
    await t.engine.idle();
    assert.equal(await t.store.pendingCount('d1'), 0);
    await t.engine.close();
  });

  test('after a restart the highest sent seq is learnt from the store', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'm1' }));
    await t.engine.submit(request('d1', { id: 'm2' }));
    await t.engine.close();
    const { createDeliveryEngine } = await import('../../src/engine/engine.js');
    const restarted = createDeliveryEngine({ store: t.store, clock: t.clock });
    const again = new FakeSession('d1').connect(restarted, 0);
    // The device acks through 2 before the redelivery: valid, because the old process sent 2.
    assert.equal(again.ack(restarted, { through: 2 }), true);
    await restarted.idle();
    assert.equal(again.ack(restarted, { through: 3 }), false);
    assert.equal(session.pushes.length, 2);
    assert.equal(await t.store.pendingCount('d1'), 0);
    await restarted.close();
  });

  test('a newer session replaces the old one; events of the stale session are ignored', async () => {
    const t = await setup();
    const old = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'm1' }));
    const fresh = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(fresh.seqs, [1], 'the unacked push is redelivered on the new session');
    assert.equal(old.ack(t.engine, { through: 1 }), true);
    await t.engine.idle();
    assert.equal((await t.store.getMessage('m1'))?.state, 'sent', 'the stale ack is ignored');
    old.disconnect(t.engine);
    assert.equal(t.engine.isOnline('d1'), true, 'closing the stale session does not take the device offline');
    await t.engine.submit(request('d1', { id: 'm2' }));
    assert.deepEqual(fresh.seqs, [1, 2]);
    assert.equal(old.pushes.length, 1);
    await t.engine.close();
  });

  test('unacked pushes stay stored when the session closes and are redelivered on reconnect', async () => {
    const t = await setup();
    const first = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'm1' }));
    await t.engine.submit(request('d1', { id: 'm2' }));
    first.ack(t.engine, { ids: ['m1'] });
    first.disconnect(t.engine);
    assert.equal(t.engine.isOnline('d1'), false);
    assert.equal((await t.engine.submit(request('d1', { id: 'm3' }))).status, 'queued');
    const second = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(second.seqs, [2, 3]);
    assert.deepEqual(t.eventsOf('m2'), ['accepted', 'sent', 'sent']);
    await t.engine.close();
  });

  test('collapse replaces an undelivered message with the same collapse id', async () => {
    const t = await setup();
    await t.engine.submit(request('d1', { id: 'a', collapseId: 'score' }));
    await t.engine.submit(request('d1', { id: 'b', collapseId: 'score' }));
    const collapsed = t.receipts.find((r) => r.event === 'collapsed');
    assert.deepEqual(collapsed && { id: collapsed.messageId, detail: collapsed.detail }, {
      id: 'a',
      detail: 'b',
    });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(
      session.pushes.map((p) => p.id),
      ['b'],
    );
    await t.engine.close();
  });

  test('a collapsed in-flight message frees its window slot', async () => {
    const t = await setup({ maxInFlightPerDevice: 1 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'a', collapseId: 'c' }));
    assert.equal((await t.engine.submit(request('d1', { id: 'b', collapseId: 'c' }))).status, 'sent');
    assert.deepEqual(
      session.pushes.map((p) => p.id),
      ['a', 'b'],
    );
    await t.engine.close();
  });

  test('overflow while offline is told in a notice on the next connect, before the backlog', async () => {
    const t = await setup({ maxQueuePerDevice: 2 });
    for (let i = 1; i <= 5; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    assert.equal(t.receipts.filter((r) => r.event === 'overflowed').length, 3);
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.equal(session.notices.length, 1);
    assert.equal(session.notices[0]?.code, 'queue_overflow');
    assert.equal(session.notices[0]?.count, 3);
    assert.deepEqual(session.seqs, [4, 5]);
    await t.engine.close();
  });

  test('overflow while online is told on the live session at once', async () => {
    const t = await setup({ maxQueuePerDevice: 2, maxInFlightPerDevice: 1 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    assert.deepEqual(session.notices, [
      {
        type: 'notice',
        code: 'queue_overflow',
        count: 1,
        message: '1 undelivered message was dropped because the queue is full',
      },
    ]);
    // m1 (in flight) overflowed, so its slot is free and m2 went out.
    assert.deepEqual(session.seqs, [1, 2]);
    await t.engine.close();
  });

  test('toPush leaves out a null collapse id', () => {
    const push = toPush({
      id: 'x',
      deviceId: 'd',
      kind: 'call',
      payload: null,
      priority: 5,
      expiration: 0,
      collapseId: null,
      acceptedAt: 0,
      seq: 7,
      state: 'queued',
      sentAt: null,
      settledAt: null,
    });
    assert.equal('collapseId' in push, false);
  });
});

describe('timers', () => {
  test('the expiry sweep settles expired messages and emits their receipts', async () => {
    const t = await setup({ expirySweepMs: 1000 });
    const expiration = Math.floor(t.clock.now() / 1000) + 5;
    await t.engine.submit(request('d1', { id: 'soon', expiration }));
    await t.advance(4000);
    assert.deepEqual(t.eventsOf('soon'), ['accepted']);
    await t.advance(1000);
    assert.deepEqual(t.eventsOf('soon'), ['accepted', 'expired']);
    assert.equal((await t.store.getMessage('soon'))?.state, 'expired');
    await t.engine.close();
  });

  test('messages that expire unsent are told in an expired notice, on the next connect if offline', async () => {
    const t = await setup();
    const soon = Math.floor(t.clock.now() / 1000) + 1;
    await t.engine.submit(request('d1', { id: 'a', expiration: soon }));
    await t.engine.submit(request('d1', { id: 'b', expiration: soon }));
    await t.advance(1000);
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(
      session.notices.map((n) => [n.code, n.count]),
      [['expired', 2]],
    );
    // Online: told at once; a message that was written and then expired unacked is not counted.
    const later = Math.floor(t.clock.now() / 1000) + 1;
    await t.engine.submit(request('d1', { id: 'c', expiration: later }));
    await t.advance(1000);
    assert.equal(session.notices.length, 1);
    await t.engine.close();
  });

  test('an expired in-flight message frees its slot for the next one', async () => {
    const t = await setup({ maxInFlightPerDevice: 1 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const expiration = Math.floor(t.clock.now() / 1000) + 2;
    await t.engine.submit(request('d1', { id: 'short', expiration }));
    await t.engine.submit(request('d1', { id: 'long' }));
    assert.deepEqual(session.seqs, [1]);
    await t.advance(2000);
    assert.deepEqual(session.seqs, [1, 2]);
    await t.engine.close();
  });

  test('with no ack-timeout listener, a message not acked in time is still written again and shown as a redelivery', async () => {
    const t = await setup({ ackTimeoutMs: 500 }, ['d1'], { followAckTimeouts: false });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const timersBefore = t.clock.pending;
    await t.engine.submit(request('d1', { id: 'lost' }));
    await t.engine.submit(request('d1', { id: 'acked' }));
    await t.engine.submit(request('d1', { id: 'third' }));
    assert.equal(t.clock.pending, timersBefore + 1, 'one ack timer for the device, not one per message');
    session.ack(t.engine, { ids: ['acked'] });
    await t.advance(400);
    session.ack(t.engine, { ids: ['third'] });
    await t.advance(100);
    assert.deepEqual(session.seqs, [1, 2, 3, 1], 'only the unacked one is written again');
    const again = session.pushes[3];
    assert.equal(again?.id, 'lost');
    assert.deepEqual(t.eventsOf('lost'), ['accepted', 'sent', 'sent']);
    const live = t.receipts.filter((r) => r.messageId === 'lost' && r.event === 'sent');
    assert.match(live[1]?.detail ?? '', /not acknowledged within 500 ms/);
    const stored = await t.engine.status('lost');
    assert.deepEqual(
      stored?.receipts.map((r) => r.event),
      ['accepted', 'sent', 'sent'],
      'the redelivery is in the stored receipts',
    );
    // The redelivery gets an ack timeout of its own; an ack settles it for good.
    await t.advance(500);
    assert.deepEqual(session.seqs, [1, 2, 3, 1, 1]);
    session.ack(t.engine, { ids: ['lost'] });
    await t.advance(1000);
    assert.deepEqual(session.seqs, [1, 2, 3, 1, 1]);
    assert.equal((await t.store.getMessage('lost'))?.state, 'acked');
    assert.equal(t.clock.pending, timersBefore, 'nothing in flight: no ack timer');
    await t.engine.close();
  });

  test('a now-or-never push is not written again after its ack timeout [LP-6.2]', async () => {
    const t = await setup({ ackTimeoutMs: 500 }, ['d1'], { followAckTimeouts: false });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'now', expiration: 0 }));
    await t.advance(1500);
    assert.deepEqual(session.seqs, [1]);
    await t.engine.close();
  });

  test('a connection that closed before the ack timeout leaves the redelivery to the next session', async () => {
    const t = await setup({ ackTimeoutMs: 500 }, ['d1'], { followAckTimeouts: false });
    const first = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'm' }));
    first.disconnect(t.engine);
    await t.advance(1000);
    assert.deepEqual(first.seqs, [1]);
    const second = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(second.seqs, [1]);
    await t.engine.close();
  });

  test('a sent message not acked in time goes to the ack-timeout hook and stays stored', async () => {
    const t = await setup({ ackTimeoutMs: 500 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const extra: string[] = [];
    const off = t.engine.onAckTimeout((m) => extra.push(m.id));
    await t.engine.submit(request('d1', { id: 'slow' }));
    await t.engine.submit(request('d1', { id: 'quick' }));
    session.ack(t.engine, { ids: ['quick'] });
    await t.advance(499);
    assert.equal(t.ackTimeouts.length, 0);
    await t.advance(1);
    assert.deepEqual(
      t.ackTimeouts.map((m) => [m.id, m.state]),
      [['slow', 'sent']],
    );
    assert.deepEqual(extra, ['slow']);
    off();
    assert.equal((await t.store.getMessage('slow'))?.state, 'sent');
    await t.engine.close();
  });

  test('fallBack settles a message as fallen_back and frees its slot', async () => {
    const t = await setup({ maxInFlightPerDevice: 1 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'a' }));
    await t.engine.submit(request('d1', { id: 'b' }));
    const fallen = await t.engine.fallBack('a', 'apns');
    assert.equal(fallen?.state, 'fallen_back');
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2]);
    assert.equal(t.receipts.find((r) => r.event === 'fallen_back')?.detail, 'apns');
    assert.equal(await t.engine.fallBack('a', 'apns'), undefined);
    await t.engine.close();
  });
});

describe('submitAndWait', () => {
  test('resolves delivered when the ack arrives, leaving no waiter behind', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const pending = t.engine.submitAndWait(request('d1', { id: 'w' }), 5000);
    const [push] = await session.waitForPushes(1);
    assert.equal(t.engine.waiterCount, 1);
    session.ack(t.engine, { ids: [push?.id ?? ''] });
    assert.deepEqual(await pending, {
      deviceId: 'd1',
      id: 'w',
      status: 'delivered',
      duplicate: false,
      seq: 1,
    });
    assert.equal(t.engine.waiterCount, 0);
    await t.engine.close();
  });

  test('a device that connects while we wait still counts', async () => {
    const t = await setup();
    const pending = t.engine.submitAndWait(request('d1', { id: 'w' }), 5000);
    const session = new FakeSession('d1');
    // Connect only once the submit went through (queued) and its waiter exists.
    while (t.engine.waiterCount === 0) await t.engine.idle();
    session.connect(t.engine);
    await session.waitForPushes(1);
    session.ackAll(t.engine);
    assert.equal((await pending).status, 'delivered');
    await t.engine.close();
  });

  test('resolves timeout when no ack comes; the message stays for redelivery', async () => {
    const t = await setup();
    const pending = t.engine.submitAndWait(request('d1', { id: 'w' }), 3000);
    while (t.engine.waiterCount === 0) await t.engine.idle();
    t.clock.advance(3000);
    assert.equal((await pending).status, 'timeout');
    assert.equal(t.engine.waiterCount, 0);
    assert.equal((await t.store.getMessage('w'))?.state, 'queued');
    await t.engine.close();
  });

  test('an already acked duplicate is delivered at once; outcomes that cannot be delivered do not wait', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'done' }));
    session.ackAll(t.engine);
    await t.engine.idle();
    const again = await t.engine.submitAndWait(request('d1', { id: 'done' }), 5000);
    assert.deepEqual(again, { deviceId: 'd1', id: 'done', status: 'delivered', duplicate: true, seq: 1 });
    assert.equal((await t.engine.submitAndWait(request('ghost'), 5000)).status, 'unknown_device');
    session.disconnect(t.engine);
    assert.equal((await t.engine.submitAndWait(request('d1', { expiration: 0 }), 5000)).status, 'expired');
    assert.equal(t.engine.waiterCount, 0);
    await t.engine.close();
  });

  test('a message that expires while waited for resolves expired', async () => {
    const t = await setup();
    const expiration = Math.floor(t.clock.now() / 1000) + 1;
    const pending = t.engine.submitAndWait(request('d1', { id: 'e', expiration }), 10_000);
    while (t.engine.waiterCount === 0) await t.engine.idle();
    await t.advance(1000);
    assert.equal((await pending).status, 'expired');
    assert.equal(t.engine.waiterCount, 0);
    await t.engine.close();
  });
});

describe('close', () => {
  test('settles waiters with timeout, stops every timer and refuses new work', async () => {
    const t = await setup();
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    const pending = t.engine.submitAndWait(request('d1', { id: 'w' }), 60_000);
    await session.waitForPushes(1);
    await t.engine.close();
    assert.equal((await pending).status, 'timeout');
    assert.equal(t.engine.waiterCount, 0);
    assert.equal(t.clock.pending, 0);
    await assert.rejects(t.engine.submit(request('d1')), EngineClosedError);
    assert.equal(session.ack(t.engine, { through: 1 }), true);
    await t.engine.close();
  });

  test('rejects option values that are not positive integers', async () => {
    const { createDeliveryEngine } = await import('../../src/engine/engine.js');
    const t = await setup();
    assert.throws(
      () => createDeliveryEngine({ store: t.store, clock: t.clock, options: { maxInFlightPerDevice: 0 } }),
      /maxInFlightPerDevice/,
    );
    await t.engine.close();
  });
});

describe('chains', () => {
  test('a slow operation of one device does not hold up another device', async () => {
    const { createDeliveryEngine } = await import('../../src/engine/engine.js');
    const t = await setup({}, ['slow', 'fast']);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store = new Proxy(t.store, {
      get(target, key, receiver) {
        if (key === 'enqueue') {
          return async (message: NewMessage, options: EnqueueOptions) => {
            if (message.deviceId === 'slow') await gate;
            return target.enqueue(message, options);
          };
        }
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const engine = createDeliveryEngine({ store, clock: t.clock });
    const slow1 = engine.submit(request('slow', { id: 's1' }));
    const slow2 = engine.submit(request('slow', { id: 's2' }));
    assert.equal((await engine.submit(request('fast', { id: 'f1' }))).status, 'queued');
    assert.equal(await t.store.getMessage('s1'), undefined, 'the slow device is still waiting');
    release();
    assert.deepEqual(
      (await Promise.all([slow1, slow2])).map((o) => o.seq),
      [1, 2],
    );
    await engine.close();
    await t.engine.close();
  });
});
