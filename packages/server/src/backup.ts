/**
 * Backup and restore of a server's SQLite store (`localpush backup FILE`, `localpush restore FILE`).
 *
 * Why two ways to back up: the data directory belongs to one server at a time (its lock, data-dir.ts), so
 * another process may not open its database the normal way while the server runs — and under the
 * hardened systemd unit it cannot even read it (a DynamicUser owns the directory, 0700). So:
 * - a running server copies its own database, online, through its own connection (SQLite's backup API:
 *   a few pages per event-loop turn; writes made meanwhile on that connection are carried into the
 *   copy), and hands the file over the HTTP API (`POST /v1/admin/backup`, provider key): this works
 *   whatever user runs the CLI and however the service is sandboxed, and never stalls delivery;
 * - with no server running, the CLI takes the directory's lock itself (so no server starts half-way)
 *   and copies the file directly.
 *
 * Restore only ever runs with the directory locked by the restoring process — never under a running
 * server — checks that the file is a localpush database this build can open, keeps the database it
 * replaces beside it (`localpush.db.before-restore-<time>`), and swaps the file in atomically.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lockDataDir, openDataDir } from './data-dir.js';
import { LocalpushError, ServerErrorCode } from './errors.js';
import { ApiError, ApiErrorCode } from './http/errors.js';
import type { ServerPlugin } from './plugin.js';
import { LATEST_SCHEMA_VERSION } from './store/sqlite-schema.js';
import { canBackUp } from './store/sqlite.js';

/** The database file in a data directory. */
export const DATABASE_FILE = 'localpush.db';
/** The API route a running server backs itself up through. */
export const BACKUP_ROUTE = '/v1/admin/backup';

/** What a backup file holds. */
export interface BackupSummary {
  file: string;
  bytes: number;
  schemaVersion: number;
  devices: number;
  messages: number;
}

function invalidBackup(file: string, what: string, cause?: unknown): LocalpushError {
  return new LocalpushError(ServerErrorCode.BACKUP_INVALID, `${file} ${what}`, { cause });
}

/** Opens `file` read-only and checks it is a localpush database this build knows; its counts. */
export async function describeBackup(file: string): Promise<BackupSummary> {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw invalidBackup(file, `cannot be opened: ${(cause as Error).message}`, cause);
  }
  try {
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    if (schemaVersion < 1 || schemaVersion > LATEST_SCHEMA_VERSION)
      throw invalidBackup(
        file,
        schemaVersion < 1
          ? 'is not a localpush database (no schema)'
          : `was written by a newer localpush (schema ${schemaVersion}; this one knows up to ${LATEST_SCHEMA_VERSION})`,
      );
    const check = db.pragma('quick_check', { simple: true }) as string;
    if (check !== 'ok') throw invalidBackup(file, `is damaged: ${check}`);
    const count = (table: string): number =>
      db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      file,
      bytes: (await stat(file)).size,
      schemaVersion,
      devices: count('devices'),
      messages: count('messages'),
    };
  } catch (error) {
    if (error instanceof LocalpushError) throw error;
    throw invalidBackup(file, `is not a localpush database: ${(error as Error).message}`, error);
  } finally {
    db.close();
  }
}

/** Copies the database at `source` to `destination` (through a partial file, renamed when complete). */
async function copyDatabase(source: Database.Database, destination: string): Promise<void> {
  const partial = `${destination}.${randomUUID()}.partial`;
  try {
    await source.backup(partial);
    await chmod(partial, 0o600);
    await rename(partial, destination);
  } finally {
    await rm(partial, { force: true });
  }
}

/**
 * Backs up the database of a data directory no server is running on: takes the directory's lock (so
 * none starts meanwhile) and copies the file. Throws LP_DATA_DIR_LOCKED when a server holds it — then
 * back up through that server ({@link BACKUP_ROUTE}).
 */
export async function backupStoppedDataDir(dataDir: string, destination: string): Promise<BackupSummary> {
  const lock = lockDataDir(dataDir);
  try {
    const path = join(dataDir, DATABASE_FILE);
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true });
    } catch (cause) {
      throw invalidBackup(path, `cannot be opened: ${(cause as Error).message}`, cause);
    }
    try {
      await copyDatabase(db, destination);
    } finally {
      db.close();
    }
  } finally {
    lock.release();
  }
  return describeBackup(destination);
}

/**
 * Replaces a data directory's database with the backup at `source`. Refused with LP_DATA_DIR_LOCKED
 * while a server holds the directory, and with LP_BACKUP_INVALID for a file that is not a localpush
 * database (nothing is changed then). The replaced database is kept as `localpush.db.before-restore-<time>`.
 */
export async function restoreDataDir(
  dataDir: string,
  source: string,
  now: Date = new Date(),
): Promise<BackupSummary & { replaced: string | null }> {
  const lock = await openDataDir(dataDir);
  try {
    const summary = await describeBackup(source);
    const path = join(dataDir, DATABASE_FILE);
    const incoming = new Database(source, { readonly: true, fileMustExist: true });
    const staged = `${path}.restoring`;
    try {
      await copyDatabase(incoming, staged);
    } finally {
      incoming.close();
    }
    let replaced: string | null = null;
    if (await exists(path)) {
      // Fold the old file's WAL into it first, so that the copy kept aside is whole on its own.
      const old = new Database(path);
      old.pragma('wal_checkpoint(TRUNCATE)');
      old.close();
      replaced = `${path}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
      await rename(path, replaced);
    }
    await Promise.all([rm(`${path}-wal`, { force: true }), rm(`${path}-shm`, { force: true })]);
    await rename(staged, path);
    return { ...summary, file: path, replaced };
  } finally {
    lock.release();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `POST /v1/admin/backup`: the running server copies its database online into its data directory and
 * answers the file (application/vnd.sqlite3), deleting its copy once sent. 409 on a store without a file.
 */
export const backupPlugin: ServerPlugin = {
  name: 'backup',
  setup({ store, config }) {
    return {
      routes: (api) => {
        api.post(BACKUP_ROUTE, { schema: { hide: true } }, async (_request, reply) => {
          if (!canBackUp(store))
            throw new ApiError(
              409,
              ApiErrorCode.BACKUP_UNSUPPORTED,
              `the ${store.kind} store has no file to back up${store.kind === 'redis' ? ': back Redis up with its own tools (BGSAVE, AOF)' : ''}`,
            );
          const file = join(config.dataDir, `backup-${randomUUID()}.db`);
          try {
            await store.backup(file);
          } catch (error) {
            await rm(file, { force: true });
            throw error;
          }
          const stream = createReadStream(file);
          stream.on('close', () => void rm(file, { force: true }));
          reply.type('application/vnd.sqlite3').header('content-length', (await stat(file)).size);
          return reply.send(stream);
        });
      },
    };
  },
};
