/**
 * Upgrading a SQLite file written by an older build: every migration runs on open, and what the file
 * held reads back the same. Migration 2 moved the receipts that a message's row can say (accepted, the
 * first send, the terminal event and its detail) out of the receipts table; a file of schema 1 must
 * show exactly the receipts it had, and go on recording new ones.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite-schema.js';
import { LATEST_SCHEMA_VERSION, openSqliteStore } from '../../src/store/index.js';
import type { Receipt } from '../../src/store/types.js';

const T0 = 1_700_000_000_000;

/** Writes a schema-1 file as the build before migration 2 left it, with one message of each kind of life. */
function writeSchemaOne(path: string): void {
  const db = new Database(path);
  const first = MIGRATIONS[0];
  assert.ok(first !== undefined && first.version === 1);
  db.exec(first.sql);
  db.pragma('user_version = 1');
  db.prepare("INSERT INTO devices VALUES ('d1', '00', NULL, ?)").run(T0);
  db.prepare("INSERT INTO sequences VALUES ('d1', 4)").run();
  const message = db.prepare(
    `INSERT INTO messages VALUES (?, 'd1', ?, 'alert', '{"n":1}', 10, 0, ?, ?, ?, ?, ?)`,
  );
  const receipt = db.prepare(
    "INSERT INTO receipts (message_id, device_id, event, at, detail) VALUES (?, 'd1', ?, ?, ?)",
  );
  // Delivered after a redelivery: accepted, sent, sent again, acked.
  message.run('delivered', 1, null, T0, 'acked', T0 + 1, T0 + 9);
  receipt.run('delivered', 'accepted', T0, null);
  receipt.run('delivered', 'sent', T0 + 1, null);
  receipt.run('delivered', 'sent', T0 + 5, null);
  receipt.run('delivered', 'acked', T0 + 9, null);
  // Collapsed by a newer message of the same collapse id, before it was sent.
  message.run('old', 2, 'c', T0, 'collapsed', null, T0 + 2);
  receipt.run('old', 'accepted', T0, null);
  receipt.run('old', 'collapsed', T0 + 2, 'new');
  // Sent and waiting for its ack; queued and never sent.
  message.run('new', 3, 'c', T0 + 2, 'sent', T0 + 3, null);
  receipt.run('new', 'accepted', T0 + 2, null);
  receipt.run('new', 'sent', T0 + 3, null);
  message.run('queued', 4, null, T0 + 4, 'queued', null, null);
  receipt.run('queued', 'accepted', T0 + 4, null);
  db.close();
}

const view = (receipts: Receipt[]): [string, number, string | null][] =>
  receipts.map((r) => [r.event, r.at - T0, r.detail]);

describe('sqlite migrations', () => {
  it('upgrades a schema-1 file with every receipt it held, and records new ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localpush-migration-'));
    try {
      const path = join(dir, 'old.sqlite');
      writeSchemaOne(path);
      const store = await openSqliteStore({ path });
      assert.deepEqual(view(await store.receipts('delivered')), [
        ['accepted', 0, null],
        ['sent', 1, null],
        ['sent', 5, null],
        ['acked', 9, null],
      ]);
      assert.deepEqual(view(await store.receipts('old')), [
        ['accepted', 0, null],
        ['collapsed', 2, 'new'],
      ]);
      assert.deepEqual(view(await store.receipts('new')), [
        ['accepted', 2, null],
        ['sent', 3, null],
      ]);
      assert.deepEqual(view(await store.receipts('queued')), [['accepted', 4, null]]);

      await store.markSent('d1', [3, 4], T0 + 20);
      await store.acknowledge('d1', { through: 4 }, T0 + 30);
      assert.deepEqual(view(await store.receipts('new')), [
        ['accepted', 2, null],
        ['sent', 3, null],
        ['sent', 20, null],
        ['acked', 30, null],
      ]);
      assert.deepEqual(view(await store.receipts('queued')), [
        ['accepted', 4, null],
        ['sent', 20, null],
        ['acked', 30, null],
      ]);
      await store.close();
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
