/**
 * Start-up failures of the SQLite store: each must be a StoreError with a stable code whose message
 * names the file and the fix, and must leave the file exactly as it was.
 *
 * Tests run as root, where chmod stops nothing, so "unwritable" is provoked by paths that fail for root
 * too: a parent that is a regular file, a path that is a directory, a missing directory, and sysfs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ServerErrorCode, StoreError } from '../../src/errors.js';
import { LATEST_SCHEMA_VERSION, openSqliteStore } from '../../src/store/index.js';

let dir: string;
void beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'localpush-startup-'));
});
void afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Asserts that opening `path` fails with `code`, a message naming the path, and the file unchanged. */
async function refuses(path: string, code: string, fix: RegExp): Promise<void> {
  const before = existsSync(path) ? await readFile(path).catch(() => undefined) : undefined;
  const siblings = await readdir(dir);
  const error = await openSqliteStore({ path }).then(
    () => assert.fail('opened'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof StoreError, String(error));
  assert.equal(error.code, code);
  assert.ok(error.message.includes(path), `message names the file: ${error.message}`);
  assert.match(error.message, fix);
  if (before !== undefined) assert.deepEqual(await readFile(path), before, 'the file is unchanged');
  assert.deepEqual(await readdir(dir), siblings, 'no -wal, -shm or other file was created');
}

describe('sqlite start-up errors', () => {
  it('refuses a file that is not a database (STORE_CORRUPT)', async () => {
    const path = join(dir, 'junk.db');
    await writeFile(path, Buffer.from('this is not a database, just some bytes\n'.repeat(200)));
    await refuses(path, ServerErrorCode.STORE_CORRUPT, /not a database.*backup/s);
  });

  it('refuses a file cut short inside the header (STORE_CORRUPT)', async () => {
    const path = join(dir, 'short.db');
    await writeFile(path, Buffer.from('SQLite format 3\0 but short', 'latin1'));
    await refuses(path, ServerErrorCode.STORE_CORRUPT, /move it aside/);
  });

  it('refuses a database whose schema page is damaged (STORE_CORRUPT)', async () => {
    const path = join(dir, 'damaged.db');
    const store = await openSqliteStore({ path });
    await store.addDevice({ id: 'd', credentialHash: '00', label: null, createdAt: 0 });
    await store.close();
    const bytes = await readFile(path);
    bytes.fill(0xab, 100, 4096); // keep the 100-byte header, destroy the rest of page 1 (sqlite_schema)
    await writeFile(path, bytes);
    await refuses(path, ServerErrorCode.STORE_CORRUPT, /malformed/);
  });

  it('refuses a schema newer than this build (STORE_SCHEMA_TOO_NEW)', async () => {
    const path = join(dir, 'future.db');
    const db = new Database(path);
    db.exec('CREATE TABLE from_the_future (x)');
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    await refuses(path, ServerErrorCode.STORE_SCHEMA_TOO_NEW, /newer localpush.*not changed/s);
  });

  it('refuses a path below a regular file (STORE_UNWRITABLE)', async () => {
    await writeFile(join(dir, 'plain-file'), 'x');
    await refuses(join(dir, 'plain-file', 'localpush.db'), ServerErrorCode.STORE_UNWRITABLE, /directory/);
  });

  it('refuses a path that is a directory (STORE_UNWRITABLE)', async () => {
    const path = join(dir, 'a-directory.db');
    await mkdir(path);
    await refuses(path, ServerErrorCode.STORE_UNWRITABLE, /not a regular file/);
  });

  it('refuses a missing directory instead of creating it (STORE_UNWRITABLE)', async () => {
    await refuses(join(dir, 'missing', 'localpush.db'), ServerErrorCode.STORE_UNWRITABLE, /does not exist/);
  });

  it(
    'refuses a directory where even root cannot create files: sysfs (STORE_UNWRITABLE)',
    { skip: !existsSync('/sys/kernel') && 'no sysfs here' },
    async () => {
      const path = '/sys/localpush-test.db';
      const error = await openSqliteStore({ path }).then(
        () => assert.fail('opened'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.code, ServerErrorCode.STORE_UNWRITABLE);
      assert.ok(error.message.includes(path));
    },
  );

  it('opens an empty (0-byte) file as a new database', async () => {
    const path = join(dir, 'empty.db');
    await writeFile(path, '');
    const store = await openSqliteStore({ path });
    await store.addDevice({ id: 'd', credentialHash: '00', label: null, createdAt: 0 });
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });
});
