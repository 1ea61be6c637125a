/**
 * A rolling restart of three nodes under traffic (issue 13): each node in turn gets SIGTERM and starts
 * again; its devices move to the others through the front, the application server retries what a
 * stopping node did not answer on another node with the same id, and every message reaches its app
 * exactly once. Set LOCALPUSH_CLUSTER_ROLLING_SEED to repeat a failing run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisSkipReason } from '../helpers/redis-server.js';
import { runRollingRestart } from './rolling-restart.js';

const skip = redisSkipReason();

describe('a rolling restart of every node under traffic', { skip }, () => {
  it('loses nothing and shows nothing twice', async (t) => {
    const seed = process.env.LOCALPUSH_CLUSTER_ROLLING_SEED;
    const figures = await runRollingRestart({
      ...(seed !== undefined ? { seed: Number(seed) } : {}),
      log: (line) => t.diagnostic(line),
    });
    assert.equal(figures.accepted, 250 * 4, 'every message was answered 2xx by some node');
    assert.equal(figures.missing, 0, `accepted but never delivered (seed ${figures.seed})`);
    assert.equal(figures.duplicates, 0, `delivered twice to an app (seed ${figures.seed})`);
    assert.equal(figures.restartMs.length, 3, 'every node was restarted');
  });
});
