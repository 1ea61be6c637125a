/**
 * The engine writes a device's backlog as its session can take it: only while the session is writable,
 * within a window bounded in count and bytes, and it drops a device as a slow consumer only when pushes
 * wait and the device shows no progress for the slow-consumer time. [LP-7.2, LP-7.3]
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeSession } from '../helpers/fake-session.js';
import { request, setup } from './helpers.js';

describe('back-pressure', () => {
  test('writes only while the session is writable, and goes on in order when it drains', async () => {
    const t = await setup();
    for (let i = 1; i <= 5; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1');
    session.writable = false;
    session.connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, []);
    session.drained(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5]);
    // Full again: a new message waits in the store, and the next drain writes it.
    session.writable = false;
    const outcome = await t.engine.submit(request('d1', { id: 'm6' }));
    assert.equal(outcome.status, 'queued');
    session.drained(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5, 6]);
    await t.engine.close();
  });

  test('the in-flight window is bounded in bytes as well as in count; one push always fits', async () => {
    const t = await setup({ maxInFlightBytesPerDevice: 250 });
    const big = { text: 'x'.repeat(400) };
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `big${i}`, payload: big }));
    for (let i = 1; i <= 4; i++) await t.engine.submit(request('d1', { id: `small${i}` }));
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1], 'a push larger than the window still goes, alone');
    session.ackAll(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2]);
    session.ackAll(t.engine);
    await t.engine.idle();
    session.ackAll(t.engine);
    await t.engine.idle();
    // Small pushes (~110 bytes each): the window takes three of them before it is full.
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5, 6]);
    session.ackAll(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2, 3, 4, 5, 6, 7]);
    await t.engine.close();
  });

  test('a device that is not writable but drains is never dropped; one that makes no progress is', async () => {
    const t = await setup({ slowConsumerTimeoutMs: 1000 });
    for (let i = 1; i <= 3; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1');
    session.writable = false;
    session.connect(t.engine);
    await t.engine.idle();
    for (let round = 0; round < 5; round++) {
      await t.advance(900);
      session.progress += 1; // bytes drained, though not yet enough to be writable
    }
    assert.equal(session.droppedSlow, false, 'progress every 900 ms keeps it');
    await t.advance(2000);
    assert.equal(session.droppedSlow, true, 'no progress for the slow-consumer time drops it');
    await t.engine.close();
  });

  test('with a full window and nothing to drain, it asks for a heartbeat and counts acks as progress', async () => {
    const t = await setup({ slowConsumerTimeoutMs: 1000, maxInFlightPerDevice: 2 });
    for (let i = 1; i <= 6; i++) await t.engine.submit(request('d1', { id: `m${i}` }));
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    assert.deepEqual(session.seqs, [1, 2]);
    assert.equal(session.readingChecks, 1, 'a full window asks the device for a sign of reading');
    await t.advance(900);
    session.ack(t.engine, { through: 1 });
    await t.advance(900);
    session.ack(t.engine, { through: 2 });
    await t.advance(900);
    assert.equal(session.droppedSlow, false);
    assert.deepEqual(session.seqs, [1, 2, 3, 4]);
    await t.advance(2000);
    assert.equal(session.droppedSlow, true);
    await t.engine.close();
  });

  test('a caught-up device with nothing waiting is never watched', async () => {
    const t = await setup({ slowConsumerTimeoutMs: 1000 });
    const session = new FakeSession('d1').connect(t.engine);
    await t.engine.idle();
    await t.engine.submit(request('d1', { id: 'only' }));
    await t.advance(5000);
    assert.equal(session.droppedSlow, false);
    assert.equal(session.readingChecks, 0);
    await t.engine.close();
  });
});
