/**
 * A whole server for end-to-end tests over loopback: a fresh data directory, every port 0, the SQLite
 * store, silent logs, no WebSocket port unless asked — and a small JSON client for its HTTP API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../../src/config.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/server.js';

/** The configuration every loopback test starts from. */
export const LOOPBACK_CONFIG = {
  host: '127.0.0.1',
  tlsPort: 0,
  wsPort: null,
  apiPort: 0,
  store: 'sqlite',
  logLevel: 'silent',
} as const satisfies Partial<ServerConfig>;

export interface LoopbackServer {
  server: RunningServer;
  dir: string;
  /** A JSON request to the API with the provider key; the body is sent as JSON when given. */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startLoopbackServer(
  prefix: string,
  config: Partial<ServerConfig> = {},
  options: StartOptions = {},
): Promise<LoopbackServer> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const server = await startServer({ dataDir: dir, ...LOOPBACK_CONFIG, ...config }, options);
  return {
    server,
    dir,
    async call<T>(method: string, path: string, body?: unknown) {
      const response = await fetch(`http://127.0.0.1:${server.addresses.api.port}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${server.providerKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? null : JSON.parse(text)) as T };
    },
    async close() {
      await server.close({ drainTimeoutMs: 100 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
