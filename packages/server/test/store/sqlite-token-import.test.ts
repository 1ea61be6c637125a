/**
 * Upgrading to schema 3, which moved the APNs token registrations into the store: a schema-2 file gains
 * the table, and the token file an older localpush kept beside it (`apns-tokens.db`) is imported once —
 * every token of a device the store knows, none of removed devices — and renamed, so nobody loses a
 * registration by upgrading and nothing comes back after it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite-schema.js';
import { LATEST_SCHEMA_VERSION, openSqliteStore, type StoreLogger } from '../../src/store/index.js';

const T0 = 1_700_000_000_000;

/** A store file of schema 2 (before the tokens moved in) with devices d1 and d2. */
function writeSchemaTwo(path: string): void {
  const db = new Database(path);
  for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) db.exec(migration.sql);
  db.pragma('user_version = 2');
  const insert = db.prepare('INSERT INTO devices VALUES (?, ?, NULL, ?)');
  insert.run('d1', '00', T0);
  insert.run('d2', '00', T0);
  db.close();
}

/** The token file as the registry of schema-2 builds wrote it (its own file, WAL). */
function writeLegacyTokens(path: string, rows: [string, string, string, string, number][]): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS apns_tokens (
    token TEXT PRIMARY KEY, device_id TEXT NOT NULL, bundle_id TEXT NOT NULL,
    environment TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
  CREATE INDEX IF NOT EXISTS apns_tokens_device ON apns_tokens (device_id);`);
  const insert = db.prepare('INSERT INTO apns_tokens VALUES (?, ?, ?, ?, ?)');
  for (const row of rows) insert.run(...row);
  db.close();
}

function recordingLogger(): StoreLogger & { lines: { obj: object; msg: string }[] } {
  const lines: { obj: object; msg: string }[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ obj, msg }),
    warn: (obj, msg) => lines.push({ obj, msg }),
  };
}

describe('sqlite: APNs tokens move into the store (schema 3)', () => {
  let dir: string;
  let storePath: string;
  let legacyPath: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localpush-tokens-'));
    storePath = join(dir, 'localpush.db');
    legacyPath = join(dir, 'apns-tokens.db');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports the old token file once: tokens of known devices, none of removed ones', async () => {
    writeSchemaTwo(storePath);
    writeLegacyTokens(legacyPath, [
      ['aa'.repeat(32), 'd1', 'com.example.app', 'production', T0 + 1],
      ['bb'.repeat(32), 'd1', 'com.example.app', 'development', T0 + 2],
      ['cc'.repeat(32), 'd2', 'com.example.other', 'development', T0 + 3],
      // Left behind by the old two-file removal of a device.
      ['dd'.repeat(32), 'gone', 'com.example.app', 'development', T0 + 4],
    ]);
    const logger = recordingLogger();
    let store = await openSqliteStore({ path: storePath, importApnsTokensFrom: legacyPath, logger });
    assert.deepEqual(await store.apnsToken('aa'.repeat(32)), {
      token: 'aa'.repeat(32),
      deviceId: 'd1',
      bundleId: 'com.example.app',
      environment: 'production',
      updatedAt: T0 + 1,
    });
    assert.deepEqual(
      (await store.apnsTokensOf('d1')).map((r) => r.token),
      ['aa'.repeat(32), 'bb'.repeat(32)],
    );
    assert.equal((await store.apnsToken('cc'.repeat(32)))?.deviceId, 'd2');
    assert.equal(await store.apnsToken('dd'.repeat(32)), undefined);
    const report = logger.lines.find((l) => l.msg.includes('imported the APNs tokens'));
    assert.deepEqual(report?.obj, {
      path: legacyPath,
      imported: 3,
      skipped: 1,
      renamedTo: `${legacyPath}.imported`,
    });
    assert.equal(existsSync(legacyPath), false);
    assert.equal(existsSync(`${legacyPath}.imported`), true);
    assert.equal(existsSync(`${legacyPath}-wal`), false);

    // Removing the device now removes its tokens, and a restart imports nothing again.
    assert.equal(await store.removeDevice('d1'), true);
    assert.equal(await store.apnsToken('bb'.repeat(32)), undefined);
    await store.close();
    store = await openSqliteStore({ path: storePath, importApnsTokensFrom: legacyPath });
    assert.deepEqual(await store.apnsTokensOf('d1'), []);
    assert.equal((await store.apnsToken('cc'.repeat(32)))?.deviceId, 'd2');
    await store.close();
    const db = new Database(storePath, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
    db.close();
  });

  it('keeps a registration the store already has over the old file’s', async () => {
    let store = await openSqliteStore({ path: storePath });
    await store.addDevice({ id: 'd1', credentialHash: '00', label: null, createdAt: T0 });
    await store.addDevice({ id: 'd2', credentialHash: '00', label: null, createdAt: T0 });
    await store.registerApnsToken({
      token: 'ee',
      deviceId: 'd2',
      bundleId: 'new.app',
      environment: 'development',
      updatedAt: T0 + 10,
    });
    await store.close();
    writeLegacyTokens(legacyPath, [['EE', 'd1', 'old.app', 'production', T0]]);
    store = await openSqliteStore({ path: storePath, importApnsTokensFrom: legacyPath });
    assert.equal((await store.apnsToken('ee'))?.bundleId, 'new.app');
    await store.close();
  });

  it('opens without a token file, and leaves an unreadable one in place with a warning', async () => {
    let store = await openSqliteStore({ path: storePath, importApnsTokensFrom: legacyPath });
    await store.close();
    await writeFile(legacyPath, 'not a database, whatever it is');
    const logger = recordingLogger();
    store = await openSqliteStore({ path: storePath, importApnsTokensFrom: legacyPath, logger });
    const warning = logger.lines.find((l) => l.msg.includes('could not read the APNs token file'));
    assert.ok(warning, 'the unreadable file is reported');
    assert.equal(existsSync(legacyPath), true);
    await store.close();
  });
});
