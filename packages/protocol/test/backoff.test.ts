// The one back-off: full jitter over a capped exponential window, with the random source pinned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/index.js';

const window = { initialMs: 1000, maxMs: 4000 };

test('backoffDelay: a random delay anywhere in [0, window), the window doubling up to the cap', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 9].map((attempt) => backoffDelay(attempt, window, () => 1)),
    [1000, 2000, 4000, 4000, 4000],
  );
  assert.deepEqual(
    [0, 1, 2].map((attempt) => backoffDelay(attempt, window, () => 0.5)),
    [500, 1000, 2000],
  );
  assert.equal(
    backoffDelay(5, window, () => 0),
    0,
  );
  // A random() outside [0, 1] is clamped, never a negative or a longer wait.
  assert.equal(
    backoffDelay(0, window, () => -3),
    0,
  );
  assert.equal(
    backoffDelay(0, window, () => 7),
    1000,
  );
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(1, window);
    assert.ok(delay >= 0 && delay < 2000, String(delay));
  }
});
