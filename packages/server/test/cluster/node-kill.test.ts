/**
 * kill -9 of one of three nodes mid-traffic (issue 13): the dead node's devices are back on the others
 * within heartbeat interval + grace + back-off (with room for a loaded machine: the figure itself is
 * printed and the 20-run loop, bench/cluster-kill-loop.ts, reports it), and every message answered 2xx
 * reaches its app exactly once. Set LOCALPUSH_CLUSTER_KILL_REPORT to a path to get the figures as JSON.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { redisSkipReason } from '../helpers/redis-server.js';
import { runNodeKill } from './node-kill.js';

const skip = redisSkipReason();

describe('a node killed with SIGKILL under traffic', { skip }, () => {
  it('moves its devices to the other nodes and loses nothing answered 2xx', async (t) => {
    const seed = process.env.LOCALPUSH_CLUSTER_KILL_SEED;
    const figures = await runNodeKill({
      ...(seed !== undefined ? { seed: Number(seed) } : {}),
      log: (line) => t.diagnostic(line),
    });
    const report = process.env.LOCALPUSH_CLUSTER_KILL_REPORT;
    if (report !== undefined) await writeFile(report, JSON.stringify(figures));
    assert.equal(figures.missing, 0, `accepted but never delivered (seed ${figures.seed})`);
    assert.equal(figures.duplicates, 0, `delivered twice to an app (seed ${figures.seed})`);
    assert.ok(figures.onVictim > 0, 'the killed node held devices');
    // The bound, plus slack for a shared 2-core machine (load 25+ seen): not a speed check.
    assert.ok(
      figures.reconnectMs <= figures.boundMs + 25_000,
      `devices back after ${figures.reconnectMs} ms (bound ${figures.boundMs} ms)`,
    );
  });
});
