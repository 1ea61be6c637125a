/**
 * What only the SQLite store promises: data survives a reopen and a SIGKILL, a resolved promise means
 * committed, group commit defers writes to the end of the turn, close() flushes, a refused operation
 * does not undo its batch neighbours, and a full database fails with STORE_DISK_FULL without damage.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ServerErrorCode } from '../../src/errors.js';
import { openSqliteStore } from '../../src/store/index.js';
import { BOUND, T0, device, message, put, seqs } from './fixtures.js';

let dir: string;
let path: string;
void beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'localpush-durable-'));
  path = join(dir, 'localpush.db');
});
void afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Reads a message row through a second, independent connection: what is committed on disk. */
function committedIds(): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], string>('SELECT id FROM messages ORDER BY device_id, seq').pluck().all();
  } finally {
    db.close();
  }
}

describe('sqlite durability', () => {
  it('keeps devices, messages, receipts and seqs across a reopen', async () => {
    const first = await openSqliteStore({ path });
    await first.addDevice(device('d1', { label: 'phone' }));
    const a = await put(first, 'd1', { payload: { deep: ['x', 1] } });
    await first.markSent('d1', [a.seq], T0 + 1);
    await first.acknowledge('d1', { through: 1 }, T0 + 2);
    await put(first, 'd1', { collapseId: 'k' });
    await first.close();

    const second = await openSqliteStore({ path });
    assert.equal((await second.getDevice('d1'))?.label, 'phone');
    assert.deepEqual(await second.getMessage(a.id), {
      ...a,
      state: 'acked',
      sentAt: T0 + 1,
      settledAt: T0 + 2,
    });
    assert.deepEqual(
      (await second.receipts(a.id)).map((r) => r.event),
      ['accepted', 'sent', 'acked'],
    );
    assert.equal((await put(second, 'd1')).seq, 3);
    assert.equal(await second.pendingCount('d1'), 2);
    await second.close();
  });

  it('keeps every acknowledged write when the process is killed with SIGKILL', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./helpers/crash-child.ts', import.meta.url)), path, '500'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('committed 500')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const store = await openSqliteStore({ path });
    const kept = await store.listMessages('crash', { limit: 1_000_000 });
    assert.ok(kept.length >= 500, `only ${kept.length} of the 500 acknowledged messages survived`);
    // Batches are atomic: whatever survived is a gap-free prefix, seq n carrying message c-(n-1).
    assert.deepEqual(
      seqs(kept).reverse(),
      kept.map((_, i) => i + 1),
    );
    for (const m of kept) assert.equal(m.id, `c-${m.seq - 1}`);
    await store.close();
  });

  it('commits a turn’s writes together, and a resolved promise means committed', async () => {
    const store = await openSqliteStore({ path });
    await store.addDevice(device('d1'));
    const pending = [
      store.enqueue(message('d1', { id: 'g1' }), BOUND),
      store.enqueue(message('d1', { id: 'g2' }), BOUND),
    ];
    assert.deepEqual(committedIds(), [], 'nothing is written before the turn ends');
    await Promise.all(pending);
    assert.deepEqual(committedIds(), ['g1', 'g2']);
    await store.close();
  });

  it('flushes queued operations on close', async () => {
    const store = await openSqliteStore({ path });
    await store.addDevice(device('d1'));
    const late = store.enqueue(message('d1', { id: 'late' }), BOUND);
    await store.close();
    assert.equal((await late).message.seq, 1);
    assert.deepEqual(committedIds(), ['late']);
  });

  it('a refused operation does not undo the other operations of its batch', async () => {
    const store = await openSqliteStore({ path });
    await store.addDevice(device('d1'));
    const [before, duplicate, ghost, after] = await Promise.allSettled([
      store.enqueue(message('d1', { id: 'before' }), BOUND),
      store.addDevice(device('d1')),
      store.enqueue(message('nobody'), BOUND),
      store.enqueue(message('d1', { id: 'after' }), BOUND),
    ]);
    assert.equal(before.status, 'fulfilled');
    assert.equal(after.status, 'fulfilled');
    assert.equal(
      duplicate.status === 'rejected' && (duplicate.reason as { code?: string }).code,
      'LP_STORE_DEVICE_EXISTS',
    );
    assert.equal(ghost.status, 'rejected');
    assert.deepEqual(committedIds(), ['before', 'after']);
    // The batch first ran without savepoints, was rolled back whole at the refusal, and ran again: the
    // seqs are those of one run, with no gap left by the first attempt.
    assert.deepEqual(
      [before, after].map((r) => (r.status === 'fulfilled' ? r.value.message.seq : 0)),
      [1, 2],
    );
    const next = await store.enqueue(message('d1', { id: 'next' }), BOUND);
    assert.equal(next.message.seq, 3);
    await store.close();
  });

  it('fails with STORE_DISK_FULL when the database is full, keeping what was stored', async () => {
    const store = await openSqliteStore({ path, maxSizeBytes: 96 * 1024 });
    await store.addDevice(device('d1'));
    const big = { blob: 'x'.repeat(3000) };
    const stored: string[] = [];
    let failure: unknown;
    for (let i = 0; i < 200 && failure === undefined; i++) {
      const m = message('d1', { payload: big });
      try {
        await store.enqueue(m, BOUND);
        stored.push(m.id);
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(stored.length > 0, 'some messages fit');
    assert.equal((failure as { code?: string } | undefined)?.code, ServerErrorCode.STORE_DISK_FULL);
    assert.ok((failure as Error).message.includes(path));
    // The store stays usable: a read in the same turn as a failing write still succeeds.
    const [write, read] = await Promise.allSettled([
      store.enqueue(message('d1', { id: 'too-much', payload: big }), BOUND),
      store.getDevice('d1'),
    ]);
    assert.equal(write.status, 'rejected');
    assert.equal(read.status === 'fulfilled' && read.value?.id, 'd1');
    await store.close();

    const reopened = await openSqliteStore({ path });
    const kept = await reopened.listMessages('d1', { limit: 1000 });
    assert.deepEqual(kept.map((m) => m.id).reverse(), stored);
    assert.deepEqual(
      seqs(kept).reverse(),
      stored.map((_, i) => i + 1),
      'failed enqueues used no seq',
    );
    assert.equal(await reopened.getMessage('too-much'), undefined);
    await reopened.close();
  });

  it('works with synchronous: full', async () => {
    const store = await openSqliteStore({ path, synchronous: 'full', busyTimeoutMs: 100 });
    await store.addDevice(device('d1'));
    await put(store, 'd1');
    await store.close();
    assert.equal(committedIds().length, 1);
  });
});
