/**
 * The data directory as something one server owns: created (or tightened) to owner-only permissions, and
 * locked so that a second server on the same directory fails at start-up instead of sharing the database
 * and acknowledging the other's messages.
 *
 * The lock is an fcntl lock, taken through SQLite's exclusive locking mode on a small file of its own
 * (`localpush.lock`): the kernel drops it when the holding process dies, however it dies (kill -9
 * included), so a crash never leaves the directory stuck — which a pid file cannot promise, since a pid
 * can be reused and a stale file needs someone to judge it. The holder writes its pid into the lock
 * file's header (SQLite's `application_id`), where a refused process reads it without taking any lock,
 * to name the holder in its error. The lock is only as good as the file system's fcntl locks: local
 * file systems are fine; some network file systems are not (docs/storage.md).
 */
import { chmodSync, closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalpushError, ServerErrorCode } from './errors.js';

/** The lock file, in the data directory. */
export const LOCK_FILE = 'localpush.lock';

/** Offset of SQLite's `application_id` in a database header, where the holder's pid is written. */
const APPLICATION_ID_OFFSET = 68;

/** Minimal logger shape (pino satisfies it). */
export interface DataDirLogger {
  warn(obj: object, msg: string): void;
}

/** A held data directory. `release()` is idempotent. */
export interface DataDirLock {
  readonly dir: string;
  release(): void;
}

/**
 * Locks held by this process, by the real path of their directory. POSIX drops every fcntl lock a
 * process holds on a file as soon as the process closes any descriptor of that file — so this process
 * must never open a lock file it holds, not even to read the pid in it. A second server started in the
 * same process is refused from here instead.
 */
const heldHere = new Map<string, Database.Database>();

/**
 * Creates the data directory when missing, locks it, and then makes it owner-only (0700), warning when
 * it was looser. Only then may anything else in it be touched: a refused second server changes nothing.
 * Throws DATA_DIR_LOCKED naming the directory and the holder's pid when another server has it.
 */
export async function openDataDir(dir: string, logger?: DataDirLogger): Promise<DataDirLock> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      `cannot create the data directory ${dir}: ${(cause as Error).message} (choose another with --data-dir)`,
      { cause },
    );
  }
  const lock = lockDataDir(dir);
  try {
    tightenDataDir(dir, logger);
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

/** Takes the data directory's lock; see the module comment. */
export function lockDataDir(dir: string): DataDirLock {
  const key = realpathSync(dir);
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(key)) throw lockedError(dir, process.pid, true);
  ownerOnlyFile(path);
  let db: Database.Database | undefined;
  try {
    // No busy timeout: a held lock is an answer, not something to wait for.
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    // The journal in memory: the lock file's content is one header field, not worth a journal file.
    db.pragma('journal_mode = MEMORY');
    // In exclusive locking mode the first write transaction's lock is kept until the connection closes.
    db.exec('BEGIN EXCLUSIVE');
    db.pragma(`application_id = ${process.pid | 0}`);
    db.exec('COMMIT');
  } catch (error) {
    db?.close();
    if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) {
      throw lockedError(dir, readHolderPid(path), false);
    }
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      `cannot lock the data directory ${dir} (${path}: ${(error as Error).message}); the lock file holds ` +
        'nothing else, so deleting it is safe when no localpush server is running on this directory',
      { cause: error },
    );
  }
  const held = db;
  heldHere.set(key, held);
  let released = false;
  return {
    dir,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(key);
      held.close();
    },
  };
}

/** The pid a holder wrote into the lock file's header, read without SQLite (so without any lock). */
function readHolderPid(path: string): number | undefined {
  try {
    const fd = openSync(path, 'r');
    try {
      const header = Buffer.alloc(100);
      if (readSync(fd, header, 0, header.length, 0) < header.length) return undefined;
      const pid = header.readUInt32BE(APPLICATION_ID_OFFSET);
      return pid > 0 ? pid : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function lockedError(dir: string, pid: number | undefined, thisProcess: boolean): LocalpushError {
  const holder =
    pid === undefined
      ? 'another process (its pid could not be read)'
      : thisProcess
        ? `this process (pid ${pid})`
        : `process ${pid}`;
  return new LocalpushError(
    ServerErrorCode.DATA_DIR_LOCKED,
    `the data directory ${dir} is in use by another localpush server: ${holder} holds its lock. Two servers ` +
      'on one directory would share its database and lose messages. Stop that server, or give this one ' +
      'another --data-dir. Nothing in the directory was changed.',
  );
}

/** Makes the directory 0700 when group or others have any access, with a warning saying so. */
function tightenDataDir(dir: string, logger: DataDirLogger | undefined): void {
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  chmodSync(dir, 0o700);
  logger?.warn(
    { dir, was: mode.toString(8), now: '700' },
    'the data directory was readable by other users; made it owner-only (it holds payloads and keys)',
  );
}

/**
 * Makes a data file owner-only (0600): creates it empty with that mode when missing (unless `create` is
 * false), tightens it when
 * group or others have access. Returns the old mode when it had to tighten, so the caller can warn.
 * SQLite creates a database's -wal and -shm files with the database file's own mode, so a database that
 * starts 0600 keeps all three 0600.
 */
export function ownerOnlyFile(path: string, create = true): number | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (create) closeSync(openSync(path, 'a', 0o600));
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  chmodSync(path, 0o600);
  return mode;
}
