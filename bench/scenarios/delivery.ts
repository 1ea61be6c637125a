/**
 * Scenario b (and d, when given both stores): M pushes to random connected devices through
 * POST /v1/push/batch, at full speed and at fixed rates. Throughput counts until the last ack reached
 * the server; latency per message is its `acked` receipt time minus its `accepted` receipt time.
 */
import { seededRandom } from '../../packages/server/test/crash/harness.js';
import { openReceiptFeed } from '../lib/receipts.js';
import { Fleet, type Transport } from '../lib/simulator.js';
import { enrolDevices, startBenchServer, type BenchServer, type StoreKind } from '../lib/server.js';
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
}

export interface DeliveryResult {
  store: StoreKind;
  /** 'full' or the target rate in messages/s. */
  mode: string;
  devices: number;
  messages: number;
  /** Wall time from the first request to the last ack receipt. */
  elapsedMs: number;
  throughputPerSec: number;
  /** Acked receipts seen for this run's messages (equals `messages` on a complete run). */
  acked: number;
  latencyMs: LatencySummary;
}

/** Per-run bookkeeping fed by the receipt feed. */
interface Tracker {
  prefix: string;
  accepted: Map<string, number>;
  latencies: number[];
  ackedEarly: Map<string, number>;
  onAllAcked: () => void;
  total: number;
}

export async function runDelivery(options: DeliveryOptions): Promise<DeliveryResult[]> {
  const results: DeliveryResult[] = [];
  for (const store of options.stores) {
    const server = await startBenchServer(store);
    let fleet: Fleet | undefined;
    try {
      const enrolling = new Progress(`[b ${store}] enrol`, options.devices);
      const specs = await enrolDevices(server, options.devices, (n) => enrolling.update(n));
      enrolling.done();
      fleet = new Fleet({ transport: options.transport, port: portOf(server, options.transport) });
      const connecting = new Progress(`[b ${store}] connect`, options.devices);
      await fleet.connect(specs, (n) => connecting.update(n));
      connecting.done();
      let tracker: Tracker | undefined;
      const feed = await openReceiptFeed(server.apiPort, server.providerKey, (receipt) => {
        const t = tracker;
        if (t === undefined || !receipt.id.startsWith(t.prefix)) return;
        if (receipt.event === 'accepted') {
          const acked = t.ackedEarly.get(receipt.id);
          if (acked === undefined) t.accepted.set(receipt.id, receipt.at);
          else record(t, acked - receipt.at);
        } else if (receipt.event === 'acked') {
          const accepted = t.accepted.get(receipt.id);
          // Receipts of one message come in order; the early branch is only a guard.
          if (accepted === undefined) t.ackedEarly.set(receipt.id, receipt.at);
          else {
            t.accepted.delete(receipt.id);
            record(t, receipt.at - accepted);
          }
        }
      });
      try {
        for (const rate of options.rates) {
          const mode = rate === 0 ? 'full' : String(rate);
          const total = rate === 0 ? options.messages : Math.round((rate * options.durationMs) / 1000);
          const progress = new Progress(`[b ${store} ${mode}] acked`, total);
          let allAcked: () => void = () => {};
          const done = new Promise<void>((resolve) => (allAcked = resolve));
          const current: Tracker = {
            prefix: `${store}-${mode}-`,
            accepted: new Map(),
            latencies: [],
            ackedEarly: new Map(),
            onAllAcked: () => allAcked(),
            total,
          };
          tracker = current;
          const ticker = setInterval(() => progress.update(current.latencies.length), 200);
          const started = performance.now();
          const random = seededRandom(options.seed);
          const sending = send(server, options, current.prefix, total, rate, random);
          // A bound on the wait: 30 s beyond the time the run should take even at 1,000 msgs/s.
          const limitMs = 30_000 + total;
          const timedOut = await Promise.race([
            Promise.all([sending, done]).then(() => false),
            sleep(limitMs).then(() => true),
          ]);
          const elapsedMs = performance.now() - started;
          clearInterval(ticker);
          progress.update(current.latencies.length);
          progress.done();
          if (timedOut) process.stderr.write(`[b ${store} ${mode}] stopped after ${limitMs} ms\n`);
          results.push({
            store,
            mode,
            devices: options.devices,
            messages: total,
            elapsedMs: Math.round(elapsedMs),
            throughputPerSec: Math.round((current.latencies.length / elapsedMs) * 1000),
            acked: current.latencies.length,
            latencyMs: summarise(current.latencies),
          });
          tracker = undefined;
          // Let the queues drain before the next rate, so runs do not overlap.
          await sleep(500);
        }
      } finally {
        feed.close();
      }
    } finally {
      await fleet?.close();
      await server.stop();
    }
  }
  return results;
}

function record(tracker: Tracker, latency: number): void {
  tracker.latencies.push(latency);
  if (tracker.latencies.length === tracker.total) tracker.onAllAcked();
}

function portOf(server: BenchServer, transport: Transport): number {
  return transport === 'tls' ? server.tlsPort : server.tcpPort;
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
  prefix: string,
  total: number,
  rate: number,
  random: () => number,
): Promise<void> {
  const message = (i: number): unknown => ({
    to: `bench-${Math.floor(random() * options.devices)}`,
    id: `${prefix}${i}`,
    kind: 'message',
    payload: { n: i, text: 'benchmark message' },
  });
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
