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
import { DeliveryTracker, DeviceClient, type Arrival } from '@localpush/client';
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

interface MessageView {
  message: { id: string; seq: number; state: string };
  receipts: Array<{ event: string; at: number }>;
}

describe('crash safety: SIGKILL while pushes are in flight', () => {
  const children: ServerChild[] = [];
  let dataDir: string | undefined;
  let client: DeviceClient | undefined;
  let sender: Sender | undefined;

  // A spy on the client's delivery bookkeeping (behaviour unchanged): the only place that sees a push
  // arrive again on the wire, which the client then drops instead of handing it to the app.
  const arrive = Object.getOwnPropertyDescriptor(DeliveryTracker.prototype, 'arrive');
  const arrivalKinds = new Map<Arrival, number>();
  DeliveryTracker.prototype.arrive = function (this: DeliveryTracker, id: string, seq: number): Arrival {
    const kind = (arrive?.value as DeliveryTracker['arrive']).call(this, id, seq);
    arrivalKinds.set(kind, (arrivalKinds.get(kind) ?? 0) + 1);
    return kind;
  };

  after(async () => {
    if (arrive !== undefined) Object.defineProperty(DeliveryTracker.prototype, 'arrive', arrive);
    sender?.stop();
    await client?.stop();
    for (const child of children) await stopServer(child);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'delivers every accepted message to the app exactly once across a kill and restart',
    { timeout: 60_000 },
    async (t) => {
      const seed = Number(process.env.LOCALPUSH_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = seededRandom(seed);
      const killAfter = 200 + Math.floor(random() * 1_200);
      const stallApp = random() < 0.5;
      const context = `seed ${seed}, kill after ${killAfter} accepted${stallApp ? ', app stalled' : ''}`;
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
      let inFlightAtKill = 0;
      let acceptedAtKill = 0;
      let backlogCountAtKill = 0;
      const seen = new Map<string, number>();
      /** The seq each id first reached the app with, to compare with the seq the API answered. */
      const seqOf = new Map<string, number>();
      const problems: string[] = [];
      /** Set at the kill in half of the runs: the app hangs until the device is back (see onPush). */
      let stall: Promise<void> | undefined;
      const release = deferred<void>();
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
      // A stalled app (half of the runs, chosen by the seed) still has the old process's last pushes
      // unhandled when the device reconnects: its resume cursor stops short of them, the new process
      // writes them again, and the client must hand each to the app once — the wire duplicates.
      const onPush = async (push: Push): Promise<void> => {
        if (stall !== undefined) await stall;
        await appendFile(inbox, `${push.seq} ${push.id}\n`);
        const count = (seen.get(push.id) ?? 0) + 1;
        seen.set(push.id, count);
        if (count > 1) problems.push(`${push.id} reached the app ${count} times`);
        if (push.seq <= lastSeq) problems.push(`${push.id} seq ${push.seq} after seq ${lastSeq}`);
        if ((push.payload as { id?: unknown } | null)?.id !== push.id)
          problems.push(`${push.id}: wrong payload`);
        lastSeq = Math.max(lastSeq, push.seq);
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
        if (killAt !== 0) release.resolve();
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
          if (stallApp) stall = release.promise;
          if (backlogAtKill.size === 0) backlogDrainedAt = performance.now();
          reconnected = deferred<number>();
          killAt = performance.now();
          server.process.kill('SIGKILL');
          killed.resolve();
        },
      });
      const sending = sender.run();
      // The sender ends only after the kill (killAfter is below what it sends); if it fails or ends
      // first, the test must fail now rather than wait for a kill that never comes.
      const endedFirst = sending.then(
        () => Promise.reject(new Error(`every request was answered before the kill point; ${context}`)),
        (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
      );
      await Promise.race([killed.promise, endedFirst]);
      endedFirst.catch(() => {}); // after the kill its outcome is seen through `await sending` below

      await killServer(server);
      // Taken once the old process is reaped (it may commit up to the signal's delivery): every receipt
      // at or after this time is the new process's.
      const restartWallClock = Date.now();
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

      // Recorded as sent by both processes: written to the device twice. The old copy either died with
      // the process or reached the client, which then dropped the repeat (counted by the spy above).
      const sentByNew = (id: string): boolean =>
        views.get(id)?.receipts.some((r) => r.event === 'sent' && r.at >= restartWallClock) ?? false;
      const sentByOld = (id: string): boolean =>
        views.get(id)?.receipts.some((r) => r.event === 'sent' && r.at < restartWallClock) ?? false;
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
        appStalled: stallApp,
        // Pushes that arrived again while the app was still handling them, or after it had: dropped.
        wireDuplicates: (arrivalKinds.get('in-flight') ?? 0) + (arrivalKinds.get('processed') ?? 0),
        wireDuplicatesInFlight: arrivalKinds.get('in-flight') ?? 0,
        wireDuplicatesProcessed: arrivalKinds.get('processed') ?? 0,
        resentAfterRestart: [...views.keys()].filter((id) => sentByOld(id) && sentByNew(id)).length,
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
