/**
 * Start-up failures a person can fix, each as one line: what failed, the port, file or option, and the
 * fix. The listeners and the data directory throw what the system said (an errno, a path); the
 * composition root, which knows which option set the port or the directory, turns it into one of these.
 * The CLI prints the code and the message, and no stack trace unless `--log-level debug`.
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { envName } from './config/load.js';
import { SERVER_OPTIONS, type ConfigKey } from './config/options.js';
import { LocalpushError, ServerErrorCode } from './errors.js';

/** Every spelling of an option: `--tls-port (LOCALPUSH_TLS_PORT, tls-port in the config file)`. */
export function optionNamed(key: ConfigKey): string {
  const { flag } = SERVER_OPTIONS[key];
  return `--${flag} (${envName(flag)}, or ${flag} in the config file)`;
}

/** The system error behind an error, looking through a few `cause`s. */
export function errnoOf(error: unknown): NodeJS.ErrnoException | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What listened, where, and which options chose the port and the address. */
export interface ListenSite {
  /** "devices over TLS", "the HTTP API", … */
  readonly what: string;
  /** host:port, or a description when one call binds several ports. */
  readonly at: string;
  readonly portOption: ConfigKey;
  readonly hostOption: ConfigKey;
}

/** A listener that could not bind, as LP_LISTEN_FAILED naming the option to change. */
export function listenFailure(site: ListenSite, error: unknown): LocalpushError {
  const code = errnoOf(error)?.code;
  const head = `cannot listen for ${site.what} on ${site.at}`;
  const port = optionNamed(site.portOption);
  const message =
    code === 'EADDRINUSE'
      ? `${head}: the port is taken (EADDRINUSE). Stop what is using it, or choose another port with ${port}`
      : code === 'EACCES'
        ? `${head}: permission denied (EACCES); ports below 1024 need privileges. Choose a port from 1024 up with ${port}, or give node the CAP_NET_BIND_SERVICE capability`
        : code === 'EADDRNOTAVAIL'
          ? `${head}: the address is not one of this machine's (EADDRNOTAVAIL). Fix ${optionNamed(site.hostOption)}`
          : `${head}: ${code ?? (error as Error).message}. Check ${port} and ${optionNamed(site.hostOption)}`;
  return new LocalpushError(ServerErrorCode.LISTEN_FAILED, message, { cause: error });
}

/** Runs a listener's start, turning a failure to bind into {@link listenFailure}. */
export async function listening<T>(site: ListenSite, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    throw listenFailure(site, error);
  }
}

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

/** The owner of a path, or of its directory when it does not exist yet. */
function ownerOf(path: string): number | undefined {
  for (const candidate of [path, dirname(path)]) {
    try {
      return statSync(candidate).uid;
    } catch {
      // try the directory
    }
  }
  return undefined;
}

/**
 * A data directory (or a file in it) this process may not read or write, as LP_DATA_DIR_UNWRITABLE naming
 * the file, its owner and the fix; undefined for other errors.
 */
export function dataDirFailure(dataDir: string, error: unknown): LocalpushError | undefined {
  const errno = errnoOf(error);
  if (errno === undefined || !PERMISSION_CODES.has(errno.code ?? '')) return undefined;
  const path = errno.path ?? dataDir;
  const choose = `or choose another directory with ${optionNamed('dataDir')}`;
  if (errno.code === 'EROFS') {
    return new LocalpushError(
      ServerErrorCode.DATA_DIR_UNWRITABLE,
      `cannot write ${path}: the file system is read-only (EROFS). Put the data directory on a writable one, ${choose}`,
      { cause: error },
    );
  }
  const owner = ownerOf(path);
  const me = process.getuid?.();
  const whose =
    owner === undefined || me === undefined
      ? ''
      : owner === me
        ? ` (it is this user's, uid ${me}, but its mode forbids it)`
        : ` (it belongs to uid ${owner}; this process runs as uid ${me})`;
  return new LocalpushError(
    ServerErrorCode.DATA_DIR_UNWRITABLE,
    `cannot ${errno.syscall ?? 'use'} ${path}: permission denied (${errno.code})${whose}. Run localpush as ` +
      `the user who owns the data directory, or give the directory and its files to this user ` +
      `(chown -R ${me ?? '<user>'} ${dataDir}), ${choose}`,
    { cause: error },
  );
}
