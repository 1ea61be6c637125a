/**
 * The rolling-restart scenario of issue 13: three localpush server processes over one Redis behind a
 * TCP front, devices spread over them by the front, an application server pushing through every node
 * that is up — and each node in turn stopped with SIGTERM (goaway to its devices, drain, flush) and
 * started again on the same data directory and ports, as an upgrade would do it.
 *
 * The application server behaves as a careful one does: a request that gets no answer or a 5xx is sent
 * again, with the same id, to another node (ids make that idempotent). So every message ends up answered
 * 2xx, and every one must reach its app exactly once. Used by rolling-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceClient } from '@localpush/client';
import type { ServerConfig } from '../../src/config.js';
import { startFront } from '../helpers/front.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { apiRequest, seededRandom, spawnServer, stopServer, type ServerChild } from '../crash/harness.js';
import { pollUntil } from './helpers.js';

export interface RollingFigures {
  seed: number;
  devices: number;
  accepted: number;
  /** Requests sent again to another node after no answer or a 5xx from a stopping one. */
  retried: number;
  duplicates: number;
  missing: number;
  /** Per restarted node: ms from SIGTERM until its devices were all connected elsewhere. */
  movedMs: number[];
  /** Per restarted node: ms from SIGTERM until it served its API again. */
  restartMs: number[];
}

export interface RollingOptions {
  devices?: number;
  /** Messages sent while each node restarts (and before the first). */
  messagesPerPhase?: number;
  seed?: number;
  log?: (line: string) => void;
}

const NODES = 3;
const HEARTBEAT = { heartbeatIntervalMs: 1_000, heartbeatGraceMs: 1_000 };
const BACKOFF = { initialMs: 50, maxMs: 300 };

interface Node {
  config: Partial<ServerConfig>;
  child: ServerChild;
  up: boolean;
}

export async function runRollingRestart(options: RollingOptions = {}): Promise<RollingFigures> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const deviceCount = options.devices ?? 12;
  const perPhase = options.messagesPerPhase ?? 250;
  const log = options.log ?? (() => {});
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const redis = await startRedis({ appendfsync: 'off' });
    cleanups.push(() => redis.stop());
    const nodes: Node[] = [];
    for (let i = 0; i < NODES; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'localpush-rolling-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      // Fixed ports: the front and the application server find a restarted node where it was.
      const config: Partial<ServerConfig> = {
        dataDir,
        host: '127.0.0.1',
        tlsPort: await freePort(),
        wsPort: null,
        apiHost: '127.0.0.1',
        apiPort: await freePort(),
        store: 'redis',
        redis: { url: redis.url },
        redisPrefix: 'rolling',
        logLevel: 'warn',
        maxQueuePerDevice: 100_000,
        ...HEARTBEAT,
      };
      const node: Node = { config, child: await spawnServer(config), up: true };
      cleanups.push(() => stopServer(node.child));
      nodes.push(node);
    }
    const front = await startFront(nodes.map((n) => n.child.info.tlsPort));
    cleanups.push(() => front.close());
    const first = nodes[0]?.child.info;
    assert.ok(first);

    const seen = new Map<string, number>();
    const clients: DeviceClient[] = [];
    for (let d = 0; d < deviceCount; d++) {
      const id = `dev-${d}`;
      const enrol = await apiRequest(first.apiPort, first.providerKey, 'POST', '/v1/devices', { id });
      assert.ok(enrol.kind === 'answer' && enrol.status === 201, JSON.stringify(enrol));
      const client = new DeviceClient({
        url: `tls://127.0.0.1:${front.port}`,
        deviceId: id,
        credential: (enrol.body as { credential: string }).credential,
        pin: nodes.map((n) => n.child.info.pin),
        backoff: BACKOFF,
        onPush: (push) => {
          seen.set(push.id, (seen.get(push.id) ?? 0) + 1);
        },
      });
      cleanups.push(() => client.stop());
      clients.push(client);
      client.start();
    }
    const allConnected = (): boolean => clients.every((c) => c.state === 'connected');
    await pollUntil('every device to connect', allConnected, 30_000);

    const accepted = new Set<string>();
    let retried = 0;
    let sent = 0;
    /** Sends one message to the nodes that are up, in turn, until one answers 200. */
    const push = async (n: number): Promise<void> => {
      const id = `m${n}`;
      const to = `dev-${Math.floor(random() * deviceCount)}`;
      const body = { to, id, kind: 'message', payload: { n }, ...(n % 5 === 0 ? { wait: true } : {}) };
      for (let attempt = 0; attempt < 50; attempt++) {
        const up = nodes.filter((node) => node.up);
        const node = up[(n + attempt) % Math.max(1, up.length)]?.child.info;
        if (node === undefined) throw new Error('no node is up');
        const answer = await apiRequest(node.apiPort, node.providerKey, 'POST', '/v1/push', body);
        if (answer.kind === 'answer' && answer.status === 200) {
          accepted.add(id);
          return;
        }
        if (answer.kind === 'answer' && answer.status < 500) {
          throw new Error(`push ${id}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        retried++;
      }
      throw new Error(`push ${id}: no node accepted it in 50 attempts`);
    };
    /** Keeps 6 requests in flight until `until` messages have been sent. */
    const traffic = async (until: number): Promise<void> => {
      const worker = async (): Promise<void> => {
        while (sent < until) await push(sent++);
      };
      await Promise.all(Array.from({ length: 6 }, worker));
    };

    await traffic(perPhase);
    const movedMs: number[] = [];
    const restartMs: number[] = [];
    for (let i = 0; i < NODES; i++) {
      const node = nodes[i];
      assert.ok(node);
      const during = traffic(perPhase * (i + 2));
      const stoppedAt = Date.now();
      // The application server learns of the stop as a real one would: from refused or failed requests
      // while the node drains; only once it is gone does it stop trying it first.
      await stopServer(node.child);
      node.up = false;
      // Its devices were told to go away and reconnect through the front, which now skips this node: done
      // when no connection goes to it any more and every device is connected again.
      const movedAway = (): boolean =>
        [...front.routed.values()].every((index) => index !== i) &&
        front.routed.size >= deviceCount &&
        allConnected();
      await pollUntil(`the devices of node ${i} to reconnect`, movedAway, 30_000);
      movedMs.push(Date.now() - stoppedAt);
      node.child = await spawnServer(node.config);
      node.up = true;
      restartMs.push(Date.now() - stoppedAt);
      log(`node ${i} restarted: devices moved in ${movedMs[i]} ms, serving again after ${restartMs[i]} ms`);
      await during;
    }
    await pollUntil(
      'every accepted message in its app',
      () => [...accepted].every((id) => seen.has(id)),
      30_000,
    ).catch(() => undefined);
    // A late duplicate would show up here.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const figures: RollingFigures = {
      seed,
      devices: deviceCount,
      accepted: accepted.size,
      retried,
      duplicates: [...seen.values()].filter((count) => count > 1).length,
      missing: [...accepted].filter((id) => !seen.has(id)).length,
      movedMs,
      restartMs,
    };
    log(JSON.stringify(figures));
    return figures;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
