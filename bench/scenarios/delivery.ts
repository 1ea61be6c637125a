/**
 * Scenario b (and d, when given both stores): M pushes to random connected devices through
 * POST /v1/push/batch, at full speed and at fixed rates. Throughput counts until the last ack reached
 * the server; latency per message is its `acked` receipt time minus its `accepted` receipt time.
 */
import { seededRandom } from '../../packages/server/test/crash/harness.js';
import { measureCpu, type CpuShare, type CpuWindow } from '../lib/cpu.js';
import { openReceiptFeed, type ReceiptFeed } from '../lib/receipts.js';
import { epochNow, type DeviceFleet, type Transport } from '../lib/simulator.js';
import { makeFleet } from '../lib/workers.js';
import {
  enrolDevices,
  portOf,
  startBenchServer,
  type BenchServer,
  type LoopStats,
  type StoreKind,
} from '../lib/server.js';
import { Progress, sleep, summarise, type LatencySummary } from '../lib/stats.js';

export interface DeliveryOptions {
  devices: number;
  /** Messages of the full-speed run. */
  messages: number;
  /** Target rates in messages/s; 0 means full speed. */
  rates: readonly number[];
  /** Length of each fixed-rate run. */
  durationMs: number;
  stores: readonly StoreKind[];
  batch: number;
  transport: Transport;
  seed: number;
  /** Simulator worker processes; 0 runs the devices in the bench process. */
  workers: number;
}

export interface DeliveryResult {
  store: StoreKind;
  transport: Transport;
  /** 'full' or the target rate in messages/s. */
  mode: string;
  devices: number;
  messages: number;
  /** From the first request to the last `acked` receipt time (the server's clock; same machine). */
  elapsedMs: number;
  throughputPerSec: number;
  /** Acked receipts seen for this run's messages (equals `messages` on a complete run). */
  acked: number;
  /** The receipt feed was dropped by the server mid-run; the rest came from GET /v1/messages/:id. */
  feedLost: boolean;
  /** Server view: `accepted` receipt → `acked` receipt (both server clock, 1 ms resolution). */
  latencyMs: LatencySummary;
  /**
   * Bench view: the batch request leaving the sender → the push arriving at the simulated device. This is
   * the figure comparable with Mosquitto (publish → subscriber), where the broker has no receipt feed.
   */
  sendToDeviceMs: LatencySummary;
  /** CPU time of each process from the first request to the last ack: where the shared cores went. */
  cpu: CpuShare[];
  /** Wall time the CPU figures cover (the run, up to the moment the feed had settled what it could). */
  cpuWindowMs: number;
  /** The server's event-loop delay and GC pauses over the run (what its latency tail is made of). */
  loop: LoopStats | undefined;
}

/** Per-run bookkeeping, by message index (ids are `<prefix><index>`). */
interface Tracker {
  prefix: string;
  total: number;
  /** `accepted` receipt time by index; NaN until seen. */
  acceptedAt: Float64Array;
  /** accepted → acked by index; NaN until known. */
  latency: Float64Array;
  acked: number;
  /** Latest `acked` receipt time (server clock, epoch ms): the end of the run as the server saw it. */
  lastAckAt: number;
  /** epochNow() when each message's batch was posted, by index; NaN once received. */
  sentAt: Float64Array;
  received: number[];
}

function newTracker(prefix: string, total: number): Tracker {
  return {
    prefix,
    total,
    acceptedAt: new Float64Array(total).fill(Number.NaN),
    latency: new Float64Array(total).fill(Number.NaN),
    acked: 0,
    lastAckAt: 0,
    sentAt: new Float64Array(total),
    received: [],
  };
}

function indexOf(tracker: Tracker, id: string): number {
  if (!id.startsWith(tracker.prefix)) return -1;
  const index = Number(id.slice(tracker.prefix.length));
  return Number.isInteger(index) && index >= 0 && index < tracker.total ? index : -1;
}

function recordAck(tracker: Tracker, index: number, acceptedAt: number, ackedAt: number): void {
  if (!Number.isNaN(tracker.latency[index] ?? 0)) return;
  tracker.latency[index] = ackedAt - acceptedAt;
  tracker.acked++;
  if (ackedAt > tracker.lastAckAt) tracker.lastAckAt = ackedAt;
}

export async function runDelivery(options: DeliveryOptions): Promise<DeliveryResult[]> {
  const results: DeliveryResult[] = [];
  for (const store of options.stores) {
    const server = await startBenchServer(store, false, options.transport !== 'ws');
    let fleet: DeviceFleet | undefined;
    try {
      const enrolling = new Progress(`[b ${store}] enrol`, options.devices);
      const specs = await enrolDevices(server, options.devices, (n) => enrolling.update(n));
      enrolling.done();
      let tracker: Tracker | undefined;
      fleet = makeFleet(
        options.workers,
        options.transport,
        portOf(server, options.transport),
        (id, receivedAt) => {
          const t = tracker;
          const index = t === undefined ? -1 : indexOf(t, id);
          if (t === undefined || index < 0) return;
          const sent = t.sentAt[index];
          // NaN marks a redelivery already counted; the first arrival is the one that matters.
          if (sent === undefined || Number.isNaN(sent)) return;
          t.received.push(receivedAt - sent);
          t.sentAt[index] = Number.NaN;
        },
      );
      await fleet.prepare();
      const connecting = new Progress(`[b ${store}] connect`, options.devices);
      await fleet.connect(specs, (n) => connecting.update(n));
      connecting.done();
      for (const rate of options.rates) {
        const mode = rate === 0 ? 'full' : String(rate);
        const total = rate === 0 ? options.messages : Math.round((rate * options.durationMs) / 1000);
        const current = newTracker(`${store}-${mode}-`, total);
        tracker = current;
        // A feed per run: the server drops one whose reader fell behind, and a new run deserves a live one.
        const feed = await openReceiptFeed(server.apiPort, server.providerKey, (receipt) => {
          const t = tracker;
          const index = t === undefined ? -1 : indexOf(t, receipt.id);
          if (t === undefined || index < 0) return;
          if (receipt.event === 'accepted') t.acceptedAt[index] = receipt.at;
          else if (receipt.event === 'acked') {
            // One message's receipts are published in order, so its `accepted` time is known here.
            const accepted = t.acceptedAt[index];
            if (accepted !== undefined && !Number.isNaN(accepted)) recordAck(t, index, accepted, receipt.at);
          }
        });
        const progress = new Progress(`[b ${store} ${mode}] acked`, total);
        const ticker = setInterval(() => progress.update(current.acked), 200);
        const cpu = await measureCpu([
          { role: 'server', pid: server.pid },
          ...server.helpers,
          ...fleet.pids.map((pid, w) => ({ role: `simulator ${w + 1}`, pid })),
          {
            role: options.workers === 0 ? 'bench (sender, feed, devices)' : 'bench (sender, feed)',
            pid: process.pid,
          },
        ]);
        await server.loop(); // starts the server's loop window afresh
        // Date.now, not performance.now: the end is an `acked` receipt time, which is epoch milliseconds.
        const startedAt = Date.now();
        const random = seededRandom(options.seed);
        const sending = send(server, options, current, rate, random);
        // A bound on the wait: 30 s beyond the time the run should take even at 1,000 msgs/s.
        const limitMs = 30_000 + total;
        const deadline = startedAt + limitMs;
        await sending;
        let cpuShares: Promise<CpuWindow> | undefined;
        // The CPU window closes when the devices have everything and the feed has settled what it will:
        // fetching the receipts a lost feed missed costs CPU that has nothing to do with delivery.
        const stopCpu = (): void => {
          cpuShares ??= cpu.stop();
        };
        await waitAcked(server, current, feed, deadline, stopCpu);
        stopCpu();
        const shares = await (cpuShares ?? cpu.stop());
        const loop = await server.loop().catch(() => undefined);
        clearInterval(ticker);
        progress.update(current.acked);
        progress.done();
        if (current.acked < total) {
          process.stderr.write(
            `[b ${store} ${mode}] stopped after ${limitMs} ms: ${current.acked} acked, ` +
              `${current.received.length} received by devices, receipt feed ${feed.lost ? 'lost' : 'live'}, ` +
              `last device error: ${fleet.lastError ?? 'none'}\n`,
          );
        }
        const elapsedMs = (current.acked < total ? Date.now() : current.lastAckAt) - startedAt;
        results.push({
          store,
          transport: options.transport,
          mode,
          devices: options.devices,
          messages: total,
          elapsedMs,
          throughputPerSec: Math.round((current.acked / elapsedMs) * 1000),
          acked: current.acked,
          feedLost: feed.lost,
          latencyMs: summarise(Array.from(current.latency).filter((v) => !Number.isNaN(v))),
          sendToDeviceMs: summarise(current.received),
          cpu: shares.cpu,
          cpuWindowMs: shares.windowMs,
          loop,
        });
        tracker = undefined;
        feed.close();
        // Let the queues drain before the next rate, so runs do not overlap.
        await sleep(500);
      }
    } finally {
      await fleet?.close();
      await server.stop();
    }
  }
  return results;
}

/**
 * Waits until every message of the run is known acked. The receipt feed answers most; the server drops
 * a feed reader that falls 4 MiB behind (the bench process shares the CPU with the simulator), so once
 * the devices received everything, the messages the feed did not settle are read one by one from
 * GET /v1/messages/:id — the same receipt times, fetched instead of streamed.
 */
async function waitAcked(
  server: BenchServer,
  tracker: Tracker,
  feed: ReceiptFeed,
  deadline: number,
  beforeFetching: () => void,
): Promise<void> {
  let lastAcked = -1;
  let lastProgressAt = Date.now();
  while (tracker.acked < tracker.total && Date.now() < deadline) {
    if (tracker.acked !== lastAcked) {
      lastAcked = tracker.acked;
      lastProgressAt = Date.now();
    }
    // A live feed that settled nothing for 2 s after the devices had everything is treated as lost too.
    const stalled = Date.now() - lastProgressAt > 2_000;
    if ((feed.lost || stalled) && tracker.received.length === tracker.total) {
      beforeFetching();
      await fetchMissing(server, tracker, deadline);
      return;
    }
    await sleep(50);
  }
}

async function fetchMissing(server: BenchServer, tracker: Tracker, deadline: number): Promise<void> {
  let missing: number[] = [];
  for (let i = 0; i < tracker.total; i++) if (Number.isNaN(tracker.latency[i] ?? 0)) missing.push(i);
  while (missing.length > 0 && Date.now() < deadline) {
    const pending: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const index = missing[next++];
        if (index === undefined) return;
        const response = await fetch(
          `http://127.0.0.1:${server.apiPort}/v1/messages/${encodeURIComponent(tracker.prefix + index)}`,
          { headers: { authorization: `Bearer ${server.providerKey}` }, signal: AbortSignal.timeout(10_000) },
        );
        const body = (await response.json()) as { receipts?: { event: string; at: number }[] };
        const accepted = body.receipts?.find((r) => r.event === 'accepted');
        const acked = body.receipts?.find((r) => r.event === 'acked');
        if (accepted !== undefined && acked !== undefined) recordAck(tracker, index, accepted.at, acked.at);
        else pending.push(index);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    missing = pending;
    if (missing.length > 0) await sleep(100);
  }
}

async function postBatch(server: BenchServer, messages: unknown[]): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/push/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.providerKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`batch: HTTP ${response.status} ${text.slice(0, 200)}`);
}

/**
 * Full speed (`rate` 0): batches of `options.batch`, four requests in flight, as a busy application
 * server would. Fixed rate: every 10 ms, one batch of what the schedule owes by then, so the offered load
 * follows the clock even when a request is slow (requests overlap rather than fall behind).
 */
async function send(
  server: BenchServer,
  options: DeliveryOptions,
  tracker: Tracker,
  rate: number,
  random: () => number,
): Promise<void> {
  const { prefix, total, sentAt } = tracker;
  const message = (i: number): unknown => {
    sentAt[i] = epochNow();
    return {
      to: `bench-${Math.floor(random() * options.devices)}`,
      id: `${prefix}${i}`,
      kind: 'message',
      payload: { n: i, text: 'benchmark message' },
    };
  };
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  if (rate === 0) {
    while (sent < total) {
      const size = Math.min(options.batch, total - sent);
      const batch = Array.from({ length: size }, (_, k) => message(sent + k));
      sent += size;
      inFlight.push(postBatch(server, batch));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    return;
  }
  const started = performance.now();
  while (sent < total) {
    const owed = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    while (sent < owed) {
      const size = Math.min(options.batch, owed - sent);
      const batch = Array.from({ length: size }, (_, k) => message(sent + k));
      sent += size;
      inFlight.push(postBatch(server, batch));
    }
    await sleep(10);
  }
  await Promise.all(inFlight);
}
