/**
 * The server under test, in its own process: its RSS is then the server's alone (the simulator and the
 * sender live in the bench process), read from /proc/<pid>/status. Spawning reuses the crash test's
 * child entry and harness so that there is one way of running a child server in this repository.
 */
import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../../packages/server/src/config.js';
import { loadOrCreateIdentity } from '../../packages/server/src/identity.js';
import type { Transport } from './simulator.js';
import { spawnServer, stopServer, type ServerChild } from '../../packages/server/test/crash/harness.js';
import type { ServerLoopReport } from '../../packages/server/test/crash/server-process.js';

export type LoopStats = ServerLoopReport['loop'];

/** Asks a server child for its loop report (a line `loop` on its stdin, one JSON line back). */
export function requestLoopStats(child: ServerChild): Promise<LoopStats> {
  const stdout = child.process.stdout;
  return new Promise<LoopStats>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      stdout.off('data', onData);
      reject(new Error('the server did not report its event loop within 10 s'));
    }, 10_000);
    const onData = (chunk: string | Buffer): void => {
      text += chunk.toString();
      for (const line of text.split('\n')) {
        if (!line.startsWith('{"loop"')) continue;
        clearTimeout(timer);
        stdout.off('data', onData);
        resolve((JSON.parse(line) as ServerLoopReport).loop);
        return;
      }
    };
    stdout.on('data', onData);
    child.process.stdin.write('loop\n');
  });
}
import {
  redisSkipReason,
  startRedis,
  type RedisProcess,
} from '../../packages/server/test/helpers/redis-server.js';

export type StoreKind = 'memory' | 'sqlite' | 'redis';

export interface BenchServer {
  readonly child: ServerChild;
  /** The current server process (a restart replaces it). */
  readonly pid: number;
  readonly tlsPort: number;
  /** The plain TCP device port (same framing as TLS, no encryption). */
  readonly tcpPort: number;
  /** The WebSocket device port (wss:// or ws:// as the server was started). */
  readonly wsPort: number;
  readonly apiPort: number;
  readonly providerKey: string;
  /** Processes the server depends on whose CPU counts too (the redis-server of the redis store). */
  readonly helpers: readonly { role: string; pid: number }[];
  /** Resident set size of the server process, in bytes. */
  rss(): Promise<number>;
  /** The server's event-loop delay and GC pauses since the previous call (see server-process.ts). */
  loop(): Promise<LoopStats>;
  /**
   * Stops the server gracefully (SIGTERM) and starts it again on the same data directory and ports; only
   * for servers started with `fixedPorts`. Resolves once the new process listens.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Where the bench's TLS identity lives: one per bench process, for every server and broker it starts. */
export interface BenchIdentity {
  keyPath: string;
  certPath: string;
}

let identity: Promise<BenchIdentity> | undefined;

/**
 * One self-signed identity for the whole bench run, made as the server makes its own on a first start:
 * every localpush server gets a copy in its data directory and Mosquitto's TLS listener uses the same
 * files, so both sides run the same certificate, key type and handshake cost.
 */
export function benchIdentity(): Promise<BenchIdentity> {
  identity ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localpush-bench-identity-'));
    await loadOrCreateIdentity(dir);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return { keyPath: join(dir, 'server.key'), certPath: join(dir, 'server.crt') };
  })();
  return identity;
}

/** A port that was free a moment ago: the child entry reports only the TLS and API ports it bound. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from the probe listener');
  return address.port;
}

export async function readRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export async function startBenchServer(
  store: StoreKind,
  fixedPorts = false,
  wsTls = true,
): Promise<BenchServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-bench-'));
  const shared = await benchIdentity();
  await copyFile(shared.keyPath, join(dataDir, 'server.key'));
  await copyFile(shared.certPath, join(dataDir, 'server.crt'));
  const tcpPort = await freePort();
  const wsPort = await freePort();
  // A restarted server must listen where the devices reconnect to: the ports are chosen here, not by bind(0).
  const tlsPort = fixedPorts ? await freePort() : 0;
  const apiPort = fixedPorts ? await freePort() : 0;
  // The redis store gets a redis-server of its own (AOF, appendfsync always: the durable setting).
  let redis: RedisProcess | undefined;
  if (store === 'redis') {
    const skip = redisSkipReason();
    if (skip !== undefined) throw new Error(`the redis store needs redis-server: ${skip}`);
    redis = await startRedis({ appendfsync: 'always' });
  }
  const config: Partial<ServerConfig> = {
    dataDir,
    store,
    ...(redis !== undefined ? { redis: { url: redis.url } } : {}),
    host: '127.0.0.1',
    tlsPort,
    tcpPort,
    wsPort,
    wsTls,
    apiHost: '127.0.0.1',
    apiPort,
    logLevel: 'warn',
    // The delivery scenario may queue thousands per device at full speed; overflow would drop messages.
    maxQueuePerDevice: 100_000,
  };
  let child: ServerChild;
  try {
    child = await spawnServer(config);
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    await redis?.stop();
    throw error;
  }
  const { info } = child;
  let current = child;
  return {
    get child() {
      return current;
    },
    get pid() {
      return current.info.pid;
    },
    tlsPort: info.tlsPort,
    tcpPort,
    wsPort,
    apiPort: info.apiPort,
    providerKey: info.providerKey,
    helpers: redis !== undefined ? [{ role: 'redis-server', pid: redis.pid }] : [],
    rss: () => readRss(current.info.pid),
    loop: () => requestLoopStats(current),
    async restart() {
      if (!fixedPorts) throw new Error('restart needs a server started with fixed ports');
      await stopServer(current);
      current = await spawnServer(config);
    },
    async stop() {
      await stopServer(current);
      await rm(dataDir, { recursive: true, force: true });
      await redis?.stop();
    },
  };
}

/** The device port of a transport; starting the server with `wsTls` matching ws/wss is the caller's part. */
export function portOf(server: BenchServer, transport: Transport): number {
  if (transport === 'tls') return server.tlsPort;
  if (transport === 'tcp') return server.tcpPort;
  return server.wsPort;
}

export interface Enrolled {
  id: string;
  credential: string;
}

/** Registers `count` devices through the API, a few requests at a time (there is no bulk route). */
export async function enrolDevices(
  server: BenchServer,
  count: number,
  onProgress?: (done: number) => void,
): Promise<Enrolled[]> {
  const devices: Enrolled[] = new Array<Enrolled>(count);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const id = `bench-${i}`;
      const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.providerKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status !== 201)
        throw new Error(`enrol ${id}: ${response.status} ${await response.text()}`);
      const body = (await response.json()) as { credential: string };
      devices[i] = { id, credential: body.credential };
      onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return devices;
}
