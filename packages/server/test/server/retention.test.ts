/**
 * The retention runs (src/retention.ts): what is pruned and when, in batches no larger than asked, on
 * the injected clock; a failing store is logged with LP_RETENTION_FAILED and the next run tries again;
 * the server starts it from --retention. What each backend deletes is the store conformance suite's
 * (test/store/conformance-retention.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import { Retention } from '../../src/retention.js';
import { retentionPlugin } from '../../src/retention.js';
import { startServer } from '../../src/server.js';
import { createMemoryStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { device, put } from '../store/fixtures.js';

const DAY = 86_400_000;

interface LogLine {
  level: 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLogger(): {
  lines: LogLine[];
  info: (o: object, m: string) => void;
  warn: (o: object, m: string) => void;
} {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
}

/** `count` messages on d1, acked at `at`. */
async function acked(store: Store, count: number, at: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = await put(store, 'd1', { acceptedAt: at });
    await store.acknowledge('d1', { ids: [m.id] }, at);
    ids.push(m.id);
  }
  return ids;
}

describe('retention', () => {
  it('prunes what settled longer ago than the retention, in batches, and keeps the rest', async () => {
    const clock = new ManualClock();
    const store = createMemoryStore();
    await store.addDevice(device('d1'));
    const old = await acked(store, 5, clock.now() - 8 * DAY);
    const recent = await acked(store, 2, clock.now() - 6 * DAY);
    const pending = await put(store, 'd1', { acceptedAt: clock.now() - 30 * DAY });
    const logger = recordingLogger();
    const retention = new Retention({ store, clock, logger, retentionMs: 7 * DAY, batchSize: 2 });
    assert.deepEqual(await retention.run(), { pruned: 5, batches: 4 });
    for (const id of old) assert.equal(await store.getMessage(id), undefined);
    for (const id of [...recent, pending.id]) assert.notEqual(await store.getMessage(id), undefined);
    assert.equal(logger.lines.length, 1);
    assert.equal(logger.lines[0]?.obj.pruned, 5);
    await retention.close();
  });

  it('runs every interval on the clock, and not after close', async () => {
    const clock = new ManualClock();
    const store = createMemoryStore();
    await store.addDevice(device('d1'));
    const retention = new Retention({
      store,
      clock,
      logger: recordingLogger(),
      retentionMs: DAY,
      intervalMs: DAY,
    });
    retention.start();
    const [first] = await acked(store, 1, clock.now());
    clock.advance(DAY); // the first run: `first` settled exactly one retention ago, so it is due
    assert.deepEqual(await retention.run(), { pruned: 1, batches: 2 });
    assert.equal(await store.getMessage(first ?? ''), undefined);
    const [second] = await acked(store, 1, clock.now());
    await retention.close();
    assert.equal(clock.pending, 0, 'no run scheduled after close');
    clock.advance(2 * DAY);
    assert.notEqual(await store.getMessage(second ?? ''), undefined);
  });

  it('logs a failing run with LP_RETENTION_FAILED, and the next run tries again', async () => {
    const clock = new ManualClock();
    const store = createMemoryStore();
    await store.addDevice(device('d1'));
    await acked(store, 3, clock.now() - 2 * DAY);
    let failures = 1;
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      prune: (before: number, limit: number) =>
        failures-- > 0 ? Promise.reject(new Error('disk on fire')) : store.prune(before, limit),
    });
    const logger = recordingLogger();
    const retention = new Retention({ store: flaky, clock, logger, retentionMs: DAY });
    await assert.rejects(retention.run(), /disk on fire/);
    assert.equal(logger.lines[0]?.level, 'warn');
    assert.equal(logger.lines[0]?.obj.code, 'LP_RETENTION_FAILED');
    assert.equal((await retention.run()).pruned, 3);
    await retention.close();
  });

  it('the server runs it with --retention', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lp-retention-'));
    const clock = new ManualClock(Date.now());
    const server = await startServer(
      {
        dataDir,
        store: 'memory',
        retentionMs: 60_000,
        tlsPort: 0,
        wsPort: null,
        apiPort: 0,
        logLevel: 'silent',
      },
      { clock },
    );
    try {
      await server.store.addDevice(device('d1'));
      const [id] = await acked(server.store, 1, clock.now());
      clock.advance(60_000);
      const retention = server.plugin(retentionPlugin);
      assert.ok(retention !== null);
      assert.equal((await retention.run()).pruned, 1);
      assert.equal(await server.store.getMessage(id ?? ''), undefined);
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
