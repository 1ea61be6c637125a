/**
 * Crash safety, end to end: a real server process is killed with SIGKILL while an application server is
 * pushing through the HTTP API and a device is receiving, then restarted on the same ports and data
 * directory. Every message the API accepted (2xx) must reach the device's application layer exactly once
 * — the wire may repeat a message, the client's dedupe must drop the repeat — in seq order, and end
 * `acked` in the store. See docs/crash-safety.md for why this holds and for the measured figures.
 *
 * The kill point is random (seeded: LOCALPUSH_CRASH_SEED repeats a run). LOCALPUSH_CRASH_REPORT names a
 * file that gets one JSON line of figures per run (bench/crash-loop.ts uses it).
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import type { ServerConfig } from '../../src/config.js';
import {
  apiRequest,
  deferred,
  killServer,
  seededRandom,
  spawnServer,
  stopServer,
  within,
  type ServerChild,
} from './harness.js';
import { Sender, planChunks } from './sender.js';

const DEVICE = 'crash-device';
const TOTAL = 2_000;
const CONCURRENCY = 8;

/** One message as the application layer saw it. */
interface Arrival {
  id: string;
  seq: number;
  /** 0 until the device is connected to the restarted server, 1 from then on. */
  epoch: number;
}

interface MessageView {
  message: { id: string; seq: number; state: string };
  receipts: Array<{ event: string; at: number }>;
}

void describe('crash safety: SIGKILL while pushes are in flight', () => {
  const children: ServerChild[] = [];
  let dataDir: string | undefined;
  let client: DeviceClient | undefined;
  let sender: Sender | undefined;

  after(async () => {
    sender?.stop();
    await client?.stop();
    for (const child of children) await stopServer(child);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  void it(
    'delivers every accepted message to the app exactly once across a kill and restart',
    { timeout: 60_000 },
    async (t) => {
      const seed = Number(process.env.LOCALPUSH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = seededRandom(seed);
      const killAfter = 200 + Math.floor(random() * 1_200);
      const context = `seed ${seed}, kill after ${killAfter} accepted`;
      t.diagnostic(context);

      dataDir = await mkdtemp(join(tmpdir(), 'localpush-crash-'));
      const config: Partial<ServerConfig> = {
        dataDir,
        host: '127.0.0.1',
        tlsPort: 0,
        wsPort: null,
        apiHost: '127.0.0.1',
        apiPort: 0,
        store: 'sqlite',
        logLevel: 'warn',
        heartbeatIntervalMs: 1_000,
        heartbeatGraceMs: 500,
        // Far above what can pile up: an overflow drops accepted messages by design, which is not the
        // property under test.
        maxQueuePerDevice: 100_000,
      };
      let server = await spawnServer(config);
      children.push(server);
      const { tlsPort, apiPort, pin, providerKey } = server.info;

      const enrol = await apiRequest(apiPort, providerKey, 'POST', '/v1/devices', { id: DEVICE });
      assert.ok(enrol.kind === 'answer' && enrol.status === 201, JSON.stringify(enrol));
      const { credential } = enrol.body as { credential: string };

      // ── the application layer of the device ──
      // What the kill found; set at the kill.
      const killed = deferred<void>();
      let killAt = 0;
      let killWallClock = 0;
      let inFlightAtKill = 0;
      let acceptedAtKill = 0;
      let backlogCountAtKill = 0;
      const arrivals: Arrival[] = [];
      const seen = new Map<string, number>();
      /** The seq each id first reached the app with, to compare with the seq the API answered. */
      const seqOf = new Map<string, number>();
      const problems: string[] = [];
      let epoch = 0;
      let lastSeq = 0;
      /** Accepted ids the app does not have yet; the run is complete when this is empty and sending ended. */
      const waiting = new Set<string>();
      let sendingDone = false;
      const complete = deferred<void>();
      const checkComplete = (): void => {
        if (sendingDone && waiting.size === 0) complete.resolve();
      };
      /** Accepted before the kill and not in the app at the kill; drained after the restart. */
      let backlogAtKill: Set<string> | undefined;
      let backlogDrainedAt: number | undefined;

      // The app keeps what it gets in an inbox file before it returns, as a real app persists a message
      // before the ack may go out; the write also makes the app slower than the wire, so pushes are
      // written but unprocessed, processed but unacked, and queued when the kill comes.
      const inbox = join(dataDir, 'inbox.log');
      const onPush = async (push: Push): Promise<void> => {
        await appendFile(inbox, `${push.seq} ${push.id}\n`);
        const count = (seen.get(push.id) ?? 0) + 1;
        seen.set(push.id, count);
        if (count > 1) problems.push(`${push.id} reached the app ${count} times`);
        if (push.seq <= lastSeq) problems.push(`${push.id} seq ${push.seq} after seq ${lastSeq}`);
        if ((push.payload as { id?: unknown } | null)?.id !== push.id)
          problems.push(`${push.id}: wrong payload`);
        lastSeq = Math.max(lastSeq, push.seq);
        arrivals.push({ id: push.id, seq: push.seq, epoch });
        if (!seqOf.has(push.id)) seqOf.set(push.id, push.seq);
        waiting.delete(push.id);
        if (backlogAtKill?.delete(push.id) === true && backlogAtKill.size === 0)
          backlogDrainedAt = performance.now();
        checkComplete();
      };

      const clientErrors = new Map<string, number>();
      client = new DeviceClient({
        url: `tls://127.0.0.1:${tlsPort}`,
        deviceId: DEVICE,
        credential,
        pin,
        backoff: { initialMs: 20, maxMs: 200 },
        onPush,
      });
      client.on('connectionError', (error) =>
        clientErrors.set(error.code, (clientErrors.get(error.code) ?? 0) + 1),
      );
      const connected = deferred<void>();
      let reconnected = deferred<number>();
      client.on('state', (state) => {
        if (state !== 'connected') return;
        connected.resolve();
        // Pushes the old process wrote before it died are read and handled within milliseconds of the
        // kill, long before the restarted process (about a second) lets the device in: from here on,
        // everything the app gets came from the new process.
        if (killAt !== 0) epoch = 1;
        reconnected.resolve(performance.now());
      });
      client.start();
      await within(connected.promise, 10_000, () => 'the device never connected');

      // ── the sender, and the kill in the middle of it ──
      sender = new Sender(planChunks(TOTAL, random), {
        apiPort,
        providerKey,
        deviceId: DEVICE,
        concurrency: CONCURRENCY,
        onAccepted: (id, seq) => {
          const got = seqOf.get(id);
          if (got !== undefined && got !== seq)
            problems.push(`${id}: API said seq ${seq}, device got ${got}`);
          if (!seen.has(id)) waiting.add(id);
        },
        onAnswer: () => {
          if (killAt !== 0 || sender === undefined || sender.accepted.size < killAfter) return;
          // Synchronously, in the middle of the workers' requests: the others are on the wire right now.
          sender.serverDown();
          inFlightAtKill = [...sender.outstanding].reduce((n, chunk) => n + chunk.ids.length, 0);
          acceptedAtKill = sender.accepted.size;
          backlogAtKill = new Set(waiting);
          backlogCountAtKill = backlogAtKill.size;
          if (backlogAtKill.size === 0) backlogDrainedAt = performance.now();
          reconnected = deferred<number>();
          killWallClock = Date.now();
          killAt = performance.now();
          server.process.kill('SIGKILL');
          killed.resolve();
        },
      });
      const sending = sender.run();
      // A sender failure must fail the test now, not after the restart below times out.
      const senderFailed = sending.then(
        () => new Promise<never>(() => {}),
        (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
      );
      await Promise.race([killed.promise, senderFailed]);

      await killServer(server);
      server = await spawnServer({ ...config, tlsPort, apiPort });
      children.push(server);
      const readyAt = performance.now();
      sender.serverUp();

      await sending;
      sendingDone = true;
      checkComplete();
      await within(
        complete.promise,
        20_000,
        () => `${waiting.size} accepted ids never reached the app: ${[...waiting].slice(0, 10).join(' ')}`,
      );
      const reconnectedAt = await reconnected.promise;
      const doneAt = performance.now();

      // ── the store's view: every id ever posted is either unknown (never committed) or acked ──
      const views = await settledViews(apiPort, providerKey, [...sender.posted], () => seen);

      assert.deepEqual(problems, [], context);
      for (const id of sender.accepted.keys()) assert.equal(seen.get(id), 1, `${id} accepted; ${context}`);
      for (const id of seen.keys())
        assert.ok(sender.posted.has(id), `${id} reached the app but was never sent`);
      for (const [id, view] of views) {
        if (view === null) {
          assert.ok(
            !sender.accepted.has(id),
            `${id} was accepted but the store does not know it; ${context}`,
          );
          assert.ok(!seen.has(id), `${id} reached the app but the store does not know it`);
        } else {
          assert.equal(view.message.state, 'acked', `${id}; ${context}`);
          assert.equal(
            seen.get(id),
            1,
            `${id} is acked in the store but reached the app ${seen.get(id) ?? 0} times`,
          );
          const apiSeq = sender.accepted.get(id);
          if (apiSeq !== undefined) assert.equal(view.message.seq, apiSeq, id);
          assert.equal(seqOf.get(id), view.message.seq, `${id}: the app got another seq than the store's`);
        }
      }
      assert.ok(inFlightAtKill > 0, 'the kill landed while requests were on the wire');

      // A push the app had from the old process that the new one wrote again reached the wire twice; the
      // client's dedupe dropped it (the app saw each id once, asserted above).
      const sentAfterKill = (id: string): boolean =>
        views.get(id)?.receipts.some((r) => r.event === 'sent' && r.at >= killWallClock) ?? false;
      const firstArrival = new Map(arrivals.map((a) => [a.id, a]));
      const wireDuplicates = [...firstArrival.values()].filter(
        (a) => a.epoch === 0 && sentAfterKill(a.id),
      ).length;
      const figures = {
        seed,
        killAfter,
        accepted: sender.accepted.size,
        acceptedAtKill,
        inFlightAtKill,
        backlogAtKill: backlogCountAtKill,
        abandoned: sender.abandoned.size,
        deliveredWithoutAnswer: [...seen.keys()].filter((id) => !sender?.accepted.has(id)).length,
        committedWithoutAnswer: sender.committedWithoutAnswer.size,
        received: seen.size,
        appDuplicates: 0,
        wireDuplicates,
        resumeClamped: server.stderr.join('').split('resume cursor beyond').length - 1,
        failures: Object.fromEntries(sender.failures),
        clientErrors: Object.fromEntries(clientErrors),
        restartMs: Math.round(readyAt - killAt),
        reconnectMs: Math.round(reconnectedAt - killAt),
        backlogMs: Math.round((backlogDrainedAt ?? doneAt) - killAt),
        totalMs: Math.round(doneAt - killAt),
      };
      t.diagnostic(JSON.stringify(figures));
      const report = process.env.LOCALPUSH_CRASH_REPORT;
      if (report !== undefined && report !== '') await appendFile(report, `${JSON.stringify(figures)}\n`);
    },
  );
});

/**
 * GET /v1/messages/:id for every id, until each is unknown (404: never committed) or settled. Acks are
 * applied asynchronously after the app has a message and the store has no event for it, so this polls,
 * re-asking only for what is not settled yet, within a bound.
 */
async function settledViews(
  apiPort: number,
  key: string,
  ids: string[],
  seen: () => Map<string, number>,
): Promise<Map<string, MessageView | null>> {
  const views = new Map<string, MessageView | null>();
  let open = ids;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const next: string[] = [];
    for (let i = 0; i < open.length; i += 32) {
      await Promise.all(
        open.slice(i, i + 32).map(async (id) => {
          const outcome = await apiRequest(apiPort, key, 'GET', `/v1/messages/${encodeURIComponent(id)}`);
          assert.equal(outcome.kind, 'answer', `GET ${id}: ${JSON.stringify(outcome)}`);
          if (outcome.kind !== 'answer') return;
          if (outcome.status === 404) {
            views.set(id, null);
            return;
          }
          assert.equal(outcome.status, 200, JSON.stringify(outcome.body));
          const view = outcome.body as MessageView;
          views.set(id, view);
          // Queued or sent: the device has yet to get or ack it (an unanswered request may still commit
          // late only before the kill, so nothing new appears here; what is stored must settle).
          if (view.message.state === 'queued' || view.message.state === 'sent') next.push(id);
        }),
      );
    }
    if (next.length === 0) return views;
    if (Date.now() > deadline) {
      throw new Error(`not settled: ${next.slice(0, 10).join(' ')} (app has ${seen().size} messages)`);
    }
    open = next;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
