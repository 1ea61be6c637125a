/**
 * The node-crash scenario of issue 13: three localpush server processes over one Redis behind a TCP
 * front (a site's load balancer), devices spread over them by the front, an application server
 * pushing through all three APIs — and one node killed with SIGKILL mid-traffic. Used by
 * node-kill.test.ts (one run) and bench/cluster-kill-loop.ts (20 runs, reported).
 *
 * What it measures: how long until every device of the dead node is connected to another one, and
 * what reached the devices' apps: every id answered 2xx exactly once; ids whose request got no answer
 * (sent to the dying node) at most once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceClient } from '@localpush/client';
import { startFront } from '../helpers/front.js';
import { startRedis } from '../helpers/redis-server.js';
import {
  apiRequest,
  killServer,
  seededRandom,
  spawnServer,
  stopServer,
  type ServerChild,
} from '../crash/harness.js';
import { pollUntil } from './helpers.js';

export interface KillFigures {
  seed: number;
  devices: number;
  /** Devices the killed node held when it died. */
  onVictim: number;
  accepted: number;
  acceptedAtKill: number;
  /** Requests that got no answer (the dying node's). */
  unanswered: number;
  /** Of those, how many reached the app anyway (stored before the crash). */
  unansweredDelivered: number;
  /** Accepted ids that reached the app more than once, and never. */
  duplicates: number;
  missing: number;
  /** For a failing run: `<id> <device> <state>` of up to 10 missing ids. */
  missingSample: string[];
  /** From the kill until every device of the dead node was connected to another one. */
  reconnectMs: number;
  /** From the last answer of the traffic until every accepted id was in its app. */
  settleMs: number;
  /** The bound the reconnection is held to: heartbeat interval + grace + the client's back-off ceiling. */
  boundMs: number;
}

export interface KillOptions {
  devices?: number;
  messages?: number;
  seed?: number;
  log?: (line: string) => void;
}

const HEARTBEAT = { heartbeatIntervalMs: 1_000, heartbeatGraceMs: 1_000 };
const BACKOFF = { initialMs: 50, maxMs: 300 };
const NODES = 3;

export async function runNodeKill(options: KillOptions = {}): Promise<KillFigures> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const deviceCount = options.devices ?? 12;
  const total = options.messages ?? 900;
  const log = options.log ?? (() => {});
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const redis = await startRedis({ appendfsync: 'off' });
    cleanups.push(() => redis.stop());
    const servers: ServerChild[] = [];
    for (let i = 0; i < NODES; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'localpush-node-kill-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const server = await spawnServer({
        dataDir,
        host: '127.0.0.1',
        tlsPort: 0,
        wsPort: null,
        apiPort: 0,
        store: 'redis',
        redis: { url: redis.url },
        redisPrefix: 'kill',
        logLevel: 'warn',
        maxQueuePerDevice: 100_000,
        ...HEARTBEAT,
      });
      cleanups.push(() => stopServer(server));
      servers.push(server);
    }
    const front = await startFront(servers.map((s) => s.info.tlsPort));
    cleanups.push(() => front.close());
    const first = servers[0]?.info;
    assert.ok(first);

    const seen = new Map<string, number>();
    let killAt = 0;
    const connects: number[] = [];
    /** When each device first connected after the kill. */
    const reconnectedAt: (number | undefined)[] = [];
    const clients: DeviceClient[] = [];
    for (let d = 0; d < deviceCount; d++) {
      const id = `dev-${d}`;
      const enrol = await apiRequest(first.apiPort, first.providerKey, 'POST', '/v1/devices', { id });
      assert.ok(enrol.kind === 'answer' && enrol.status === 201, JSON.stringify(enrol));
      const client = new DeviceClient({
        url: `tls://127.0.0.1:${front.port}`,
        deviceId: id,
        credential: (enrol.body as { credential: string }).credential,
        pin: servers.map((s) => s.info.pin),
        backoff: BACKOFF,
        onPush: (push) => {
          seen.set(push.id, (seen.get(push.id) ?? 0) + 1);
        },
      });
      connects.push(0);
      client.on('connected', () => {
        connects[d] = (connects[d] ?? 0) + 1;
        if (killAt > 0 && reconnectedAt[d] === undefined) reconnectedAt[d] = Date.now();
      });
      cleanups.push(() => client.stop());
      clients.push(client);
      client.start();
    }
    await pollUntil('every device to connect', () => connects.every((n) => n >= 1), 30_000);

    const victim = NODES - 1 - Math.floor(random() * NODES);
    const alive = new Set(servers.keys());
    const accepted = new Set<string>();
    const unanswered = new Set<string>();
    const target = new Map<string, string>();
    let next = 0;
    let acceptedAtKill = 0;
    let onVictim = 0;
    let connectsAtKill: number[] = [];
    const killAfter = Math.floor(total * (0.2 + random() * 0.4));
    const kill = async (): Promise<void> => {
      const server = servers[victim];
      assert.ok(server);
      onVictim = [...front.routed.values()].filter((index) => index === victim).length;
      connectsAtKill = [...connects];
      acceptedAtKill = accepted.size;
      killAt = Date.now();
      await killServer(server);
      alive.delete(victim);
      log(`killed node ${victim} (holding ${onVictim} devices) after ${acceptedAtKill} accepted`);
    };
    let killing: Promise<void> | undefined;
    const worker = async (w: number): Promise<void> => {
      for (let n = next++; n < total; n = next++) {
        const id = `m${n}`;
        const nodes = [...alive];
        const node = servers[nodes[(n + w) % nodes.length] ?? 0]?.info;
        assert.ok(node);
        const to = `dev-${Math.floor(random() * deviceCount)}`;
        target.set(id, to);
        const answer = await apiRequest(node.apiPort, node.providerKey, 'POST', '/v1/push', {
          to,
          id,
          kind: 'message',
          payload: { n },
          ...(n % 5 === 0 ? { wait: true, waitTimeoutMs: 5_000 } : {}),
        });
        if (answer.kind === 'answer' && answer.status === 200) accepted.add(id);
        else unanswered.add(id);
        if (killing === undefined && accepted.size >= killAfter) killing = kill();
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await killing;
    const lastAnswerAt = Date.now();

    const moved = (): number => connects.filter((n, d) => n > (connectsAtKill[d] ?? 0)).length;
    await pollUntil(
      `the ${onVictim} devices of the dead node to reconnect`,
      () => moved() >= onVictim && clients.every((c) => c.state === 'connected'),
      30_000,
    );
    const reconnectMs = Math.max(
      0,
      ...Array.from({ length: deviceCount }, (_, d) => (reconnectedAt[d] ?? killAt) - killAt),
    );
    await pollUntil(
      'every accepted message in its app',
      () => [...accepted].every((id) => seen.has(id)),
      30_000,
    ).catch(() => undefined);
    const settleMs = Date.now() - lastAnswerAt;
    // A late duplicate would show up here.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const missing = [...accepted].filter((id) => !seen.has(id));
    const survivor = servers[[...alive][0] ?? 0]?.info;
    assert.ok(survivor);
    const missingSample = await Promise.all(
      missing.slice(0, 10).map(async (id) => {
        const answer = await apiRequest(survivor.apiPort, survivor.providerKey, 'GET', `/v1/messages/${id}`);
        const message =
          answer.kind === 'answer'
            ? (answer.body as { message?: { state?: string; seq?: number } }).message
            : undefined;
        return `${id} ${target.get(id)} ${message?.state} seq ${message?.seq}`;
      }),
    );
    const figures: KillFigures = {
      seed,
      devices: deviceCount,
      onVictim,
      accepted: accepted.size,
      acceptedAtKill,
      unanswered: unanswered.size,
      unansweredDelivered: [...unanswered].filter((id) => seen.has(id)).length,
      duplicates: [...seen.values()].filter((n) => n > 1).length,
      missing: missing.length,
      missingSample,
      reconnectMs,
      settleMs,
      boundMs: HEARTBEAT.heartbeatIntervalMs + HEARTBEAT.heartbeatGraceMs + BACKOFF.maxMs,
    };
    log(JSON.stringify(figures));
    return figures;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
