/**
 * Traffic for the Redis failure tests: a node (a real server process) on the Redis store, one device
 * (a real DeviceClient counting what reaches its app), and the crash test's application server
 * pushing a fixed set of messages from several workers. The test decides when Redis fails; `outage`
 * brackets the failure so that the sender knows which failed requests the outage explains.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceClient } from '@localpush/client';
import type { ServerConfig } from '../../src/config.js';
import { apiRequest, deferred, seededRandom, spawnServer, stopServer, within } from '../crash/harness.js';
import { Sender, planChunks } from '../crash/sender.js';
import { pollUntil } from './helpers.js';

const DEVICE = 'ward-phone';
const PROBE = 'probe';

export interface TrafficOptions {
  redis: NonNullable<ServerConfig['redis']>;
  /** Extra configuration of the node (prefix, replica wait, …). */
  config?: Partial<ServerConfig>;
  total: number;
  /** Redis fails once this many messages were accepted (2xx). */
  failAfter: number;
}

export interface Outcome {
  accepted: string[];
  /** How often each id reached the device's app. */
  seen: Map<string, number>;
  abandoned: number;
  committedWithoutAnswer: number;
  refused503: number;
  /** From the failure until the API accepted again. */
  downMs: number;
  connects: number;
  /** The state the store reports now for an accepted id (undefined: the store does not know it). */
  stateOf(id: string): Promise<string | undefined>;
}

/** Runs the traffic; `fail` is called once `failAfter` messages were accepted and must break Redis. */
export async function runTraffic(
  options: TrafficOptions,
  fail: () => Promise<void>,
  cleanups: (() => Promise<void>)[],
  log: (line: string) => void,
): Promise<Outcome> {
  const seed = Number(process.env.LOCALPUSH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = seededRandom(seed);
  log(`seed ${seed}; Redis fails after ${options.failAfter} accepted`);
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-redis-traffic-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const server = await spawnServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    store: 'redis',
    redis: options.redis,
    logLevel: 'warn',
    heartbeatIntervalMs: 1_000,
    // Generous: the point is that a Redis failure alone never costs the device its session.
    heartbeatGraceMs: 5_000,
    maxQueuePerDevice: 100_000,
    ...options.config,
  });
  cleanups.push(() => stopServer(server));
  const { tlsPort, apiPort, pin, providerKey } = server.info;
  const enrol = await apiRequest(apiPort, providerKey, 'POST', '/v1/devices', { id: DEVICE });
  assert.ok(enrol.kind === 'answer' && enrol.status === 201, JSON.stringify(enrol));
  const { credential } = enrol.body as { credential: string };
  const probe = await apiRequest(apiPort, providerKey, 'POST', '/v1/devices', { id: PROBE });
  assert.ok(probe.kind === 'answer' && probe.status === 201, JSON.stringify(probe));

  const seen = new Map<string, number>();
  let connects = 0;
  const client = new DeviceClient({
    url: `tls://127.0.0.1:${tlsPort}`,
    deviceId: DEVICE,
    credential,
    pin,
    backoff: { initialMs: 50, maxMs: 300 },
    onPush: (push) => {
      seen.set(push.id, (seen.get(push.id) ?? 0) + 1);
    },
  });
  client.on('connected', () => {
    connects += 1;
  });
  cleanups.push(() => client.stop());
  client.start();
  await pollUntil('the device to connect', () => connects === 1);

  const trigger = deferred<void>();
  let failing = false;
  const sender: Sender = new Sender(planChunks(options.total, random), {
    apiPort,
    providerKey,
    deviceId: DEVICE,
    concurrency: 8,
    onAccepted: () => {},
    onAnswer: () => {
      if (failing || sender.accepted.size < options.failAfter) return;
      failing = true;
      sender.serverDown();
      trigger.resolve();
    },
  });
  cleanups.push(() => Promise.resolve(sender.stop()));
  const sending = sender.run();

  await within(trigger.promise, 30_000, () => `${sender.accepted.size} accepted before the failure`);
  const downAt = Date.now();
  await fail();
  // The node reconnects by itself; the sender goes on once the API accepts a write again (a push to a
  // device of its own that never connects: it exercises the whole write path, replica wait included).
  let probes = 0;
  await pollUntil(
    'the API to accept again',
    async () => {
      const probe = await apiRequest(apiPort, providerKey, 'POST', '/v1/push', {
        to: PROBE,
        id: `probe-${probes++}`,
        kind: 'message',
        payload: {},
      });
      return probe.kind === 'answer' && probe.status === 200;
    },
    30_000,
  );
  const downMs = Date.now() - downAt;
  sender.serverUp();
  await within(sending, 60_000, () => `sending: ${sender.accepted.size} accepted`);
  return {
    accepted: [...sender.accepted.keys()],
    seen,
    abandoned: sender.abandoned.size,
    committedWithoutAnswer: sender.committedWithoutAnswer.size,
    refused503: sender.failures.get('HTTP_503') ?? 0,
    downMs,
    get connects() {
      return connects;
    },
    async stateOf(id) {
      const answer = await apiRequest(apiPort, providerKey, 'GET', `/v1/messages/${id}`);
      return answer.kind === 'answer'
        ? (answer.body as { message?: { state?: string } }).message?.state
        : undefined;
    },
  };
}

/** Every accepted message at the app exactly once, acked in the store, and the device on one session. */
export async function assertExactlyOnce(outcome: Outcome): Promise<void> {
  const { accepted, seen } = outcome;
  await pollUntil(
    `every accepted message at the app (${accepted.filter((id) => !seen.has(id)).length} missing)`,
    () => accepted.every((id) => seen.has(id)),
    30_000,
  );
  const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(twice, [], 'no message reached the app twice');
  for (const id of accepted) {
    await pollUntil(`${id} acked in the store`, async () => (await outcome.stateOf(id)) === 'acked');
  }
  assert.equal(outcome.connects, 1, 'the device stayed on its first session');
}
