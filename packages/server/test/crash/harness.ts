/**
 * Plumbing for the crash test: a server in a child process that can be killed for real, a small HTTP
 * client for the API, a seeded random source, and a deferred promise. Kept apart from the test so the
 * test reads as the scenario it proves.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ServerConfig } from '../../src/config.js';
import type { ServerProcessInfo } from './server-process.js';

const ENTRY = fileURLToPath(new URL('./server-process.ts', import.meta.url));
/** The repository root: `--import tsx` is resolved from the working directory. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** A server running in its own process, so that SIGKILL kills exactly what a real crash would. */
export interface ServerChild {
  readonly info: ServerProcessInfo;
  readonly process: ChildProcessWithoutNullStreams;
  /** Resolves when the process is gone, whatever ended it. */
  readonly exited: Promise<void>;
  /** Everything the child wrote to stderr (its warn-level log), for diagnostics and counting warnings. */
  readonly stderr: string[];
}

/**
 * Starts the server process and resolves once it printed its ports; rejects if it dies or stalls first.
 * The deadline only catches a child that hangs: it is not a speed check. The child compiles its sources
 * through tsx as it starts, which on a busy 2-core machine (a suite beside a build) has taken over 12 s,
 * so the default leaves room for that.
 */
export async function spawnServer(config: Partial<ServerConfig>, timeoutMs = 60_000): Promise<ServerChild> {
  // LOCALPUSH_SERVER_NODE_OPTIONS adds flags to the child's node, e.g. "--cpu-prof --cpu-prof-dir=prof"
  // to profile the server under a benchmark, or "--expose-gc".
  const extra = (process.env.LOCALPUSH_SERVER_NODE_OPTIONS ?? '').split(/\s+/).filter((flag) => flag !== '');
  const child = spawn(
    process.execPath,
    [...extra, '--conditions=source', '--import', 'tsx', ENTRY, JSON.stringify(config)],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = child.exitCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined);
  let out = '';
  try {
    let info: ServerProcessInfo | undefined;
    const ready = await new Promise<ServerProcessInfo>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server process not ready in ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        // The info is the first line that is a JSON object: flags such as --trace-gc print to stdout too.
        for (let newline = out.indexOf('\n'); newline >= 0; newline = out.indexOf('\n')) {
          const line = out.slice(0, newline);
          out = out.slice(newline + 1);
          if (!line.startsWith('{') || info !== undefined) {
            // What diagnostic flags print (--trace-gc …) goes on to this process's stderr.
            if (extra.length > 0) process.stderr.write(`[server ${child.pid ?? '?'}] ${line}\n`);
            continue;
          }
          clearTimeout(timer);
          try {
            info = JSON.parse(line) as ServerProcessInfo;
            resolve(info);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(
          new Error(`server process exited (${child.exitCode}) before it was ready: ${stderr.join('')}`),
        );
      });
    });
    return { info: ready, process: child, exited, stderr };
  } catch (error) {
    await stopServer({ process: child, exited });
    throw error;
  }
}

/** The crash: SIGKILL to this child's pid only, and wait until the kernel has reaped it. */
export async function killServer(server: Pick<ServerChild, 'process' | 'exited'>): Promise<void> {
  if (server.process.exitCode === null && server.process.signalCode === null) server.process.kill('SIGKILL');
  await server.exited;
}

/** Clean-up: a graceful SIGTERM, then SIGKILL if it has not gone within a bound. Safe to call twice. */
export async function stopServer(server: Pick<ServerChild, 'process' | 'exited'>): Promise<void> {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await server.exited;
  clearTimeout(timer);
}

/** What a request to the API came to: an HTTP answer, or no answer at all (the server is gone). */
export type ApiOutcome =
  { kind: 'answer'; status: number; body: unknown } | { kind: 'connection-error'; code: string };

/** A JSON request to the HTTP API. Connection failures are a result, not an exception: they are expected. */
export async function apiRequest(
  port: number,
  key: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<ApiOutcome> {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    // A hung server must fail the test, not stall it; 10 s is far beyond any answer on loopback.
    signal: AbortSignal.timeout(10_000),
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  } catch (error) {
    return connectionError(error);
  }
  try {
    const text = await response.text();
    return {
      kind: 'answer',
      status: response.status,
      body: text === '' ? null : (JSON.parse(text) as unknown),
    };
  } catch (error) {
    // The process died after the status line but before the whole body: no answer either.
    return connectionError(error);
  }
}

function connectionError(error: unknown): ApiOutcome {
  // fetch reports a refused or reset connection as TypeError("fetch failed") with the socket error as cause.
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (error instanceof TypeError && code !== undefined) return { kind: 'connection-error', code };
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return { kind: 'connection-error', code: 'UNKNOWN' };
  }
  if (error instanceof Error && /terminated|other side closed/i.test(error.message)) {
    return { kind: 'connection-error', code: 'TERMINATED' };
  }
  throw error;
}

/** mulberry32: a tiny seeded generator, so a failing run can be repeated with the seed it printed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Races a promise against a deadline whose message says what was being waited for. */
export async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
