/**
 * `localpush backup FILE` and `localpush restore FILE`: a consistent copy of the SQLite store, taken
 * under traffic, and putting one back. How each reaches the data directory, and why, is in
 * @localpush/server's backup.ts and docs/operating.md#backup-and-restore.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BACKUP_ROUTE,
  LocalpushError,
  ServerErrorCode,
  backupStoppedDataDir,
  describeBackup,
  restoreDataDir,
  type BackupSummary,
} from '@localpush/server';
import { CliError, EXIT, apiTarget, dataDirFrom, parseFlags, type CliIo } from './common.js';

export const BACKUP_HELP = `Usage: localpush backup <file> [options]

Writes a consistent copy of the server's SQLite database (devices, messages, receipts, APNs tokens) to
<file>, safe while the server runs and delivers. With a server running on the data directory the copy
is made by the server itself and fetched over the HTTP API (the provider key); with none, directly
from the data directory (locked meanwhile, so no server starts half-way). The data directory's keys
and certificate are not in it: back up the directory's other files once, on their own.

Options:
  --data-dir <dir>   the server's data directory (default ./.localpush, or LOCALPUSH_DATA_DIR)
  --api <url>        the running server's HTTP API (default http://127.0.0.1:7700, or LOCALPUSH_API)
  --key <key>        provider key (default LOCALPUSH_PROVIDER_KEY, or the data directory's)
  -h, --help         show this help
`;

export const RESTORE_HELP = `Usage: localpush restore <file> [options]

Replaces the data directory's database with a backup made by "localpush backup". Refused while a
server runs on the directory: stop it first, restore, then start it. The file is checked first (a
localpush database this version can open, not damaged); the database it replaces is kept beside it as
localpush.db.before-restore-<time>.

Options:
  --data-dir <dir>   the data directory to restore into (default ./.localpush, or LOCALPUSH_DATA_DIR)
  -h, --help         show this help
`;

function summary(verb: string, s: BackupSummary, where: string): string {
  return `${verb} ${s.devices} devices and ${s.messages} messages (${s.bytes} bytes, schema ${s.schemaVersion}) ${where}\n`;
}

/** The file argument: exactly one. */
function fileArgument(command: string, positionals: string[]): string {
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0)
    throw new CliError(
      `takes one file, got ${positionals.length}\nRun "localpush ${command} --help" for usage.`,
      EXIT.usage,
    );
  return resolve(file);
}

/** Asks the running server for its backup and writes the answer to `file`. */
async function backupThroughServer(
  flags: { api?: string; key?: string; 'data-dir'?: string },
  file: string,
  io: CliIo,
): Promise<BackupSummary> {
  const target = await apiTarget(flags, io);
  let response: Response;
  try {
    response = await fetch(`${target.url}${BACKUP_ROUTE}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.key}` },
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new CliError(
      `a server holds the data directory, but its API at ${target.url} cannot be reached ` +
        `(${cause?.code ?? (error as Error).message}); point --api at it`,
    );
  }
  if (!response.ok || response.body === null) {
    const text = await response.text();
    let detail = text;
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      detail = `${parsed.error?.code ?? 'error'} — ${parsed.error?.message ?? text}`;
    } catch {
      // not JSON: show it as it is
    }
    throw new CliError(`the API answered ${response.status}: ${detail}`);
  }
  const partial = `${file}.${randomUUID()}.partial`;
  try {
    await pipeline(Readable.fromWeb(response.body), createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
  return describeBackup(file);
}

export async function backup(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'backup',
    args,
    { 'data-dir': { type: 'string' }, api: { type: 'string' }, key: { type: 'string' } },
    true,
  );
  if (values.help) {
    io.stdout(BACKUP_HELP);
    return EXIT.ok;
  }
  const file = fileArgument('backup', positionals);
  const dataDir = dataDirFrom(values['data-dir'], io);
  try {
    const done = await backupStoppedDataDir(dataDir, file);
    io.stdout(summary('backed up', done, `from ${dataDir} to ${file}`));
  } catch (error) {
    if (!(error instanceof LocalpushError && error.code === ServerErrorCode.DATA_DIR_LOCKED)) throw error;
    const done = await backupThroughServer(values, file, io);
    io.stdout(summary('backed up', done, `from the running server to ${file}`));
  }
  return EXIT.ok;
}

export async function restore(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags('restore', args, { 'data-dir': { type: 'string' } }, true);
  if (values.help) {
    io.stdout(RESTORE_HELP);
    return EXIT.ok;
  }
  const file = fileArgument('restore', positionals);
  const dataDir = dataDirFrom(values['data-dir'], io);
  let done;
  try {
    done = await restoreDataDir(dataDir, file);
  } catch (error) {
    if (error instanceof LocalpushError && error.code === ServerErrorCode.DATA_DIR_LOCKED)
      throw new CliError(
        `${error.code}: a server is running on ${dataDir}; stop it first (systemctl stop localpush), restore, then start it again`,
      );
    throw error;
  }
  io.stdout(summary('restored', done, `from ${file} into ${dataDir}`));
  if (done.replaced !== null) io.stdout(`the database it replaced is kept as ${done.replaced}\n`);
  return EXIT.ok;
}
