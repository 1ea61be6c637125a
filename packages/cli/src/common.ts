/**
 * Shared plumbing of the `localpush` commands: injected input/output (so tests run commands in-process),
 * strict flag parsing with readable errors, and a small client for the HTTP API.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readProviderKey } from '@localpush/server';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the command should stop (Ctrl-C / SIGTERM for the long-running commands). */
  untilInterrupted: () => Promise<void>;
  /** Calls `listener` on each SIGHUP (serve reloads); returns how to stop. Absent: no reloads. */
  onHangup?: (listener: () => void) => () => void;
}

/** Exit codes: 0 success, 1 failure at run time, 2 bad usage (unknown flag, missing value). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** An error whose message is meant for the person at the terminal, with the exit code to use. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
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

/** Parses flags strictly: an unknown flag or a missing value is a usage error naming the command's help. */
export function parseFlags<T extends Options>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
): { values: FlagValues<T>; positionals: string[] } {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    throw new CliError(
      `${(error as Error).message}\nRun "localpush ${command} --help" for usage.`,
      EXIT.usage,
    );
  }
}

export function requireInteger(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`, EXIT.usage);
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
}

/** Where the API is and which provider key to use: flags, then environment, then the local data directory. */
export async function apiTarget(
  flags: { api?: string | undefined; key?: string | undefined; 'data-dir'?: string | undefined },
  io: CliIo,
): Promise<ApiTarget> {
  const url = (flags.api ?? io.env.LOCALPUSH_API ?? DEFAULT_API_URL).replace(/\/+$/, '');
  const dataDir = dataDirFrom(flags['data-dir'], io);
  const key = flags.key ?? io.env.LOCALPUSH_PROVIDER_KEY ?? (await readProviderKey(dataDir));
  if (!key) {
    throw new CliError(
      `no provider key: pass --key, set LOCALPUSH_PROVIDER_KEY, or run this where ${dataDir}/provider.key exists ` +
        '(localpush serve creates it)',
    );
  }
  return { url, key };
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
        'is "localpush serve" running? Use --api to point elsewhere.',
    );
  }
  const text = await response.text();
  const parsed: unknown = text.length > 0 ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const apiError = (parsed as ApiErrorBody | undefined)?.error;
    throw new CliError(
      `the API answered ${response.status}: ${apiError?.code ?? 'error'} — ${apiError?.message ?? text}`,
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
      `--${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
