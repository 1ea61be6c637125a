/**
 * Shared plumbing of the `localpush` commands: injected input/output (so tests run commands in-process),
 * strict flag parsing with readable errors, and a small client for the HTTP API.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readProviderKey } from '@localpush/server';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /**
   * Resolves when the command should stop (Ctrl-C / SIGTERM for the long-running commands), or when
   * `done` aborts: a command that ends by itself (listen refused by the server) lets the process exit.
   */
  untilInterrupted: (done?: AbortSignal) => Promise<void>;
  /** Calls `listener` on each SIGHUP (serve reloads); returns how to stop. Absent: no reloads. */
  onHangup?: (listener: () => void) => () => void;
}

/**
 * Exit codes: 0 success, 1 failure at run time, 2 bad usage (unknown flag, missing or malformed value),
 * 3 (send) accepted and kept for a device that has not acknowledged it yet.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, pending: 3 } as const;

/** The CLI's own error codes (docs/errors.md); failures reported by the server keep the server's code. */
export const CliErrorCode = {
  /** Bad usage: an unknown command or option, a missing or malformed value, flags that contradict. */
  USAGE: 'LP_CLI_USAGE',
  /** The HTTP API cannot be reached at the URL used. */
  API_UNREACHABLE: 'LP_CLI_API_UNREACHABLE',
  /** No provider key given, and none in the data directory. */
  NO_PROVIDER_KEY: 'LP_CLI_NO_PROVIDER_KEY',
  /** A file named by a flag cannot be read. */
  FILE_UNREADABLE: 'LP_CLI_FILE_UNREADABLE',
  /** listen has no pin and no CA to check the server with. */
  NO_PIN: 'LP_CLI_NO_PIN',
  /** A failure of the CLI itself (a bug): the message, and the stack with --log-level debug. */
  INTERNAL: 'LP_CLI_INTERNAL',
} as const;

/**
 * An error meant for the person at the terminal: a stable code, one sentence per problem (all of them,
 * so that one run names every mistake), and the exit code to use.
 */
export class CliError extends Error {
  readonly problems: readonly string[];
  readonly code: string;
  constructor(
    problems: string | readonly string[],
    readonly exitCode: number = EXIT.failure,
    code?: string,
  ) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('; '));
    this.problems = list;
    this.code = code ?? (exitCode === EXIT.usage ? CliErrorCode.USAGE : CliErrorCode.INTERNAL);
  }
}

/** A usage error (exit 2, LP_CLI_USAGE). */
export function usageError(problems: string | readonly string[]): CliError {
  return new CliError(problems, EXIT.usage, CliErrorCode.USAGE);
}

/** Collects the problems of a command line, to report them all at once. */
export class Problems {
  readonly list: string[] = [];
  add(problem: string): void {
    this.list.push(problem);
  }
  /** Runs a check that throws a usage error, keeping its problems. */
  check<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      this.list.push(...error.problems);
      return undefined;
    }
  }
  /** Throws every problem as one usage error, if there is any. */
  throwIfAny(): void {
    if (this.list.length > 0) throw usageError(this.list);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed value of each declared flag: booleans, strings, or string lists for `multiple` flags. */
export type FlagValues<T extends Options> = {
  [K in keyof T]?: T[K] extends { type: 'boolean' }
    ? boolean
    : T[K] extends { multiple: true }
      ? string[]
      : string;
} & { help?: boolean };

/**
 * Parses flags strictly, reporting every mistake at once as a usage error that names the command's
 * help: an unknown option, a value missing or given to a switch, an argument the command does not take.
 */
export function parseFlags<T extends Options>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
): { values: FlagValues<T>; positionals: string[] } {
  const declared: Options = { ...options, help: { type: 'boolean', short: 'h' } };
  const { values, positionals, tokens } = parseArgs({
    args,
    options: declared,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const problems = new Problems();
  for (const token of tokens) {
    if (token.kind === 'positional' && !allowPositionals)
      problems.add(`unexpected argument "${token.value}"`);
    if (token.kind !== 'option') continue;
    const option = declared[token.name];
    if (option === undefined) problems.add(`unknown option "${token.rawName}"`);
    else if (
      option.type === 'string' &&
      (token.value === undefined || (!token.inlineValue && token.value.startsWith('--')))
    )
      problems.add(`option "${token.rawName}" needs a value`);
    else if (option.type === 'boolean' && token.inlineValue === true)
      problems.add(`option "${token.rawName}" takes no value`);
  }
  if (problems.list.length > 0)
    throw usageError([...problems.list, `run "localpush ${command} --help" for the options`]);
  return { values: values as FlagValues<T>, positionals };
}

/** A whole number from min to max, or undefined when not given; a usage error otherwise. */
export function requireInteger(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw usageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export const DEFAULT_DATA_DIR = '.localpush';
export const DEFAULT_API_URL = 'http://127.0.0.1:7700';

/** The data directory from --data-dir, LOCALPUSH_DATA_DIR, or the default, made absolute. */
export function dataDirFrom(flag: string | undefined, io: CliIo): string {
  return resolve(flag ?? io.env.LOCALPUSH_DATA_DIR ?? DEFAULT_DATA_DIR);
}

export interface ApiTarget {
  url: string;
  key: string;
  /** Where the key came from, for advice when the API refuses it. */
  keyFrom: string;
}

/** Where the API is and which provider key to use: flags, then environment, then the local data directory. */
export async function apiTarget(
  flags: { api?: string | undefined; key?: string | undefined; 'data-dir'?: string | undefined },
  io: CliIo,
): Promise<ApiTarget> {
  const url = (flags.api ?? io.env.LOCALPUSH_API ?? DEFAULT_API_URL).replace(/\/+$/, '');
  const dataDir = dataDirFrom(flags['data-dir'], io);
  const keyFile = join(dataDir, 'provider.key');
  const [key, keyFrom] =
    flags.key !== undefined
      ? [flags.key, '--key']
      : io.env.LOCALPUSH_PROVIDER_KEY
        ? [io.env.LOCALPUSH_PROVIDER_KEY, 'LOCALPUSH_PROVIDER_KEY']
        : [await readProviderKey(dataDir), keyFile];
  if (!key) {
    throw new CliError(
      `no provider key: pass --key, set LOCALPUSH_PROVIDER_KEY, or run this where ${keyFile} exists ` +
        '(localpush serve creates it)',
      EXIT.failure,
      CliErrorCode.NO_PROVIDER_KEY,
    );
  }
  return { url, key, keyFrom };
}

interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

/** Calls the HTTP API and returns the parsed JSON body; failures become CliErrors with the API's code. */
export async function callApi<T>(
  target: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new CliError(
      `cannot reach the localpush API at ${target.url} (${cause?.code ?? (error as Error).message}); ` +
        'is "localpush serve" running? Use --api (or LOCALPUSH_API) to point elsewhere',
      EXIT.failure,
      CliErrorCode.API_UNREACHABLE,
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const apiError = (parsed as ApiErrorBody | undefined)?.error;
    if (response.status === 401) {
      throw new CliError(
        `the API at ${target.url} refused the provider key from ${target.keyFrom}. Use the key "localpush ` +
          `serve" printed (it is in provider.key in the server's data directory): pass it with --key or ` +
          'LOCALPUSH_PROVIDER_KEY, or run this where that data directory is (--data-dir)',
        EXIT.failure,
        apiError?.code ?? 'LP_API_UNAUTHORIZED',
      );
    }
    throw new CliError(
      `the API answered ${response.status}: ${apiError?.message ?? text}`,
      EXIT.failure,
      apiError?.code ?? 'LP_API_INTERNAL',
    );
  }
  return parsed as T;
}

/** Reads a file given to a flag (a CA certificate, say), naming the flag when it cannot. */
export async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(
      `cannot read --${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      EXIT.failure,
      CliErrorCode.FILE_UNREADABLE,
    );
  }
}
