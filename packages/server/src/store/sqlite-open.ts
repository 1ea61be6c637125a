/**
 * Opening the SQLite file: checks before SQLite touches it, pragmas, migrations, and the translation of
 * SQLite's failures into StoreErrors whose messages name the file and say what to do.
 *
 * Order matters for "never make things worse": the header is read with plain fs first, so a file that
 * is not a database, or that a newer localpush wrote, is refused before SQLite could write anything
 * (switching to WAL rewrites header bytes). Only then do pragmas and migrations run.
 */
import { closeSync, constants, openSync, readSync, statSync, accessSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ownerOnlyFile } from '../data-dir.js';
import { ServerErrorCode, StoreError } from '../errors.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './sqlite-schema.js';

/** Minimal logger shape (pino satisfies it). */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SqliteOpenOptions {
  /** The database file. Its directory must exist. */
  path: string;
  logger?: StoreLogger;
  /** How long to wait for another connection's lock before failing with SQLITE_BUSY. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * `normal` (default): with WAL, a commit survives a crash of the process (even SIGKILL) but the last
   * commits may be lost on power loss or an OS crash. `full`: fsync on every commit, surviving power loss
   * too, at the cost of one fsync per group commit. See docs/storage.md.
   */
  synchronous?: 'normal' | 'full';
  /** Caps the database size; writes beyond it fail with STORE_DISK_FULL, as on a full disk. */
  maxSizeBytes?: number;
  /**
   * The APNs token file an older localpush kept beside the store (`apns-tokens.db`). When it exists, its
   * tokens are imported once on open and it is renamed `<path>.imported` (see sqlite-tokens.ts).
   */
  importApnsTokensFrom?: string;
}

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const USER_VERSION_OFFSET = 60;

/** Opens (creating if needed) and migrates the database; throws StoreError with the path and the fix. */
export function openDatabase(options: SqliteOpenOptions): Database.Database {
  const { path } = options;
  preflight(path);
  secureFiles(path, options.logger);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (error) {
    throw translate(error, path) ?? unwritable(path, describe(error), error);
  }
  try {
    configure(db, options);
    return db;
  } catch (error) {
    db.close();
    throw translate(error, path) ?? error;
  }
}

function preflight(path: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOTDIR')
      throw unwritable(path, 'a parent of it is a file, not a directory', error);
    if (errnoCode(error) !== 'ENOENT') throw unwritable(path, describe(error), error);
  }
  if (stat === undefined) {
    const dir = dirname(path);
    let dirStat;
    try {
      dirStat = statSync(dir);
    } catch (error) {
      throw unwritable(path, `its directory ${dir} does not exist`, error);
    }
    if (!dirStat.isDirectory()) throw unwritable(path, `${dir} is not a directory`);
    checkAccess(dir, path);
    return;
  }
  if (!stat.isFile()) throw unwritable(path, 'it is not a regular file (a directory?)');
  checkAccess(path, path);
  if (stat.size === 0) return; // SQLite treats an empty file as a new database.
  const header = Buffer.alloc(100);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read < header.length || !header.subarray(0, HEADER.length).equals(HEADER)) {
    throw corrupt(path, 'it does not start with the SQLite header: this file is not a database');
  }
  checkVersion(path, header.readUInt32BE(USER_VERSION_OFFSET));
}

/**
 * The database, its WAL and its shared-memory file hold payloads: owner-only (0600). The database is
 * created 0600 before SQLite opens it, because SQLite gives the -wal and -shm files the database's mode;
 * files left looser by an older localpush or by hand are tightened, with a warning.
 */
function secureFiles(path: string, logger: StoreLogger | undefined): void {
  for (const [file, create] of [
    [path, true],
    [`${path}-wal`, false],
    [`${path}-shm`, false],
  ] as const) {
    let was: number | undefined;
    try {
      was = ownerOnlyFile(file, create);
    } catch (error) {
      throw unwritable(path, `cannot make ${file} owner-only: ${describe(error)}`, error);
    }
    if (was !== undefined) {
      logger?.warn(
        { path: file, was: was.toString(8), now: '600' },
        'a database file was readable by other users; made it owner-only',
      );
    }
  }
}

function configure(db: Database.Database, options: SqliteOpenOptions): void {
  // Re-read through SQLite: it also sees a version still in the WAL, and this read parses the schema,
  // so a damaged file fails here, before anything is written.
  const version = db.pragma('user_version', { simple: true }) as number;
  checkVersion(options.path, version);
  db.prepare('SELECT count(*) FROM sqlite_schema').get();

  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
  if (mode !== 'wal') {
    options.logger?.warn(
      { path: options.path, mode },
      'SQLite WAL mode unavailable; group commit still applies',
    );
  }
  // NORMAL in WAL mode: commits are not fsynced, checkpoints are. A process crash loses nothing committed.
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  if (options.maxSizeBytes !== undefined) {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxSizeBytes / pageSize))}`);
  }

  const pending = MIGRATIONS.filter((m) => m.version > version);
  for (const migration of pending) {
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  options.logger?.info(
    {
      path: options.path,
      schemaVersion: LATEST_SCHEMA_VERSION,
      migratedFrom: pending.length > 0 ? version : undefined,
    },
    'SQLite store opened',
  );
}

function checkVersion(path: string, version: number): void {
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreError(
      ServerErrorCode.STORE_SCHEMA_TOO_NEW,
      `${path} has schema version ${version}, but this localpush knows only up to ${LATEST_SCHEMA_VERSION}: ` +
        'it was written by a newer localpush. Run that newer version, or point this one at another data ' +
        'directory. The file was not changed.',
    );
  }
}

/**
 * root passes access() checks, so this only catches the non-root cases early; SQLite's own errors cover
 * the rest (read-only mounts, sysfs, …).
 */
function checkAccess(target: string, path: string): void {
  try {
    accessSync(target, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw unwritable(path, `${target} is not writable by this user`, error);
  }
}

/** Maps a SQLite error to a StoreError, or undefined when it is none of the known failures. */
export function translate(error: unknown, path: string): StoreError | undefined {
  if (error instanceof StoreError) return error;
  const code = sqliteCode(error);
  if (code === undefined) return undefined;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))
    return corrupt(path, describe(error), error);
  if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE_FULL') {
    return new StoreError(
      ServerErrorCode.STORE_DISK_FULL,
      `cannot write ${path}: the disk (or the configured maxSizeBytes) is full (${describe(error)}). ` +
        'Free space on that disk or raise the limit; nothing of the failed operation was stored.',
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM') {
    return unwritable(path, describe(error), error);
  }
  return undefined;
}

function corrupt(path: string, reason: string, cause?: unknown): StoreError {
  return new StoreError(
    ServerErrorCode.STORE_CORRUPT,
    `${path} cannot be used as the localpush database: ${reason}. It was left as it is. Restore it from a ` +
      'backup, or move it aside to start with an empty store.',
    { cause },
  );
}

function unwritable(path: string, reason: string, cause?: unknown): StoreError {
  return new StoreError(
    ServerErrorCode.STORE_UNWRITABLE,
    `cannot open ${path} for writing: ${reason}. Make sure its directory exists, is a directory and is ` +
      'writable by the user running localpush, or choose another data directory.',
    { cause },
  );
}

function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
}

function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
