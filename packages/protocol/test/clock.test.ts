/**
 * The injectable clocks. ManualClock is what every timing test in the repository stands on, so its
 * contract is pinned here; fuzz.test.ts checks the ordering properties over random schedules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, systemClock } from '../src/index.js';

describe('ManualClock', () => {
  it('starts at the given time and moves only when advanced', () => {
    const clock = new ManualClock(1000);
    assert.equal(clock.now(), 1000);
    clock.advance(250);
    assert.equal(clock.now(), 1250);
    assert.equal(new ManualClock().now(), 1_700_000_000_000);
  });

  it('fires a timer at its due time, not before', () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    clock.setTimeout(() => at.push(clock.now()), 100);
    clock.advance(99);
    assert.deepEqual(at, []);
    assert.equal(clock.pending, 1);
    clock.advance(1);
    assert.deepEqual(at, [100]);
    assert.equal(clock.pending, 0);
  });

  it('fires timers due in one advance in time order, ties in creation order', () => {
    const clock = new ManualClock(0);
    const order: string[] = [];
    clock.setTimeout(() => order.push('b@20'), 20);
    clock.setTimeout(() => order.push('a@10'), 10);
    clock.setTimeout(() => order.push('c@20'), 20);
    clock.advance(1000);
    assert.deepEqual(order, ['a@10', 'b@20', 'c@20']);
  });

  it('fires timers that callbacks set within the advanced span (a heartbeat loop)', () => {
    const clock = new ManualClock(0);
    const beats: number[] = [];
    const beat = (): void => {
      beats.push(clock.now());
      clock.setTimeout(beat, 20_000);
    };
    clock.setTimeout(beat, 20_000);
    clock.advance(65_000);
    assert.deepEqual(beats, [20_000, 40_000, 60_000]);
    assert.equal(clock.now(), 65_000);
  });

  it('never fires a cleared timer, even one cleared by an earlier callback in the same advance', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const later = clock.setTimeout(() => fired.push('later'), 50);
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(later);
    }, 10);
    clock.advance(100);
    assert.deepEqual(fired, ['first']);
    clock.clearTimeout(later); // clearing twice is harmless
  });

  it('treats a negative delay as zero', () => {
    const clock = new ManualClock(0);
    let fired = false;
    clock.setTimeout(() => (fired = true), -5);
    clock.advance(0);
    assert.ok(fired);
  });
});

describe('systemClock', () => {
  it('reads Date.now and fires real timers', async () => {
    const before = Date.now();
    assert.ok(Math.abs(systemClock.now() - before) < 1000);
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 1));
  });

  it('unrefs its timers so that a pending heartbeat does not keep a process alive', () => {
    const handle = systemClock.setTimeout(() => assert.fail('cleared'), 60_000);
    assert.equal((handle as NodeJS.Timeout).hasRef(), false);
    systemClock.clearTimeout(handle);
  });
});
