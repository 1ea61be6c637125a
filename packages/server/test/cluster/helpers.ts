/**
 * Shared by the cluster tests: a server on the Redis store in a temporary data directory, device
 * registration and pushes through the HTTP API over real loopback sockets, and polling with a deadline.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';

/** Polls `check` every 20 ms until it is true; fails after `timeoutMs` naming `what`. */
export async function pollUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface RedisNode {
  server: RunningServer;
  dataDir: string;
  /** Base URL of the HTTP API. */
  api: string;
  close(): Promise<void>;
}

/** Starts a node on the Redis store (all ports free, loopback), with heartbeats fast enough for tests. */
export async function startRedisNode(
  redis: NonNullable<ServerConfig['redis']>,
  overrides: Partial<ServerConfig> = {},
): Promise<RedisNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-cluster-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    store: 'redis',
    redis,
    logLevel: 'silent',
    heartbeatIntervalMs: 1_000,
    heartbeatGraceMs: 500,
    ...overrides,
  });
  return {
    server,
    dataDir,
    api: `http://127.0.0.1:${server.addresses.api.port}`,
    async close() {
      await server.close({ drainTimeoutMs: 500 });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** One HTTP API call with the node's provider key. */
export async function apiCall<T = Record<string, unknown>>(
  node: RedisNode,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  const response = await fetch(`${node.api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${node.server.providerKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

/** Registers a device and returns its credential. */
export async function registerDevice(node: RedisNode, id: string): Promise<string> {
  const answer = await apiCall<{ credential: string }>(node, 'POST', '/v1/devices', { id });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.credential;
}
