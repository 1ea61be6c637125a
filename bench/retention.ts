/**
 * Delivery while retention prunes a long history: a SQLite store holding 1,000,000 settled messages
 * (and 100,000 redelivery receipts) settled 30 days ago, a server on it with one device connected over
 * TLS, and pushes at a steady rate measured from submit to the device's ack — first with nothing being
 * pruned, then while the retention run deletes the whole history in its batches. Both phases in one run,
 * side by side; plus the event loop's delay in each. No assertions: figures only.
 *
 *   node --conditions=source --import tsx bench/retention.ts [rows] [pushes per second]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { DeviceClient } from '../packages/client/src/index.js';
import { hashCredential } from '../packages/server/src/engine/devices.js';
import { retentionPlugin } from '../packages/server/src/retention.js';
import { startServer, type RunningServer } from '../packages/server/src/server.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RATE = Number(process.argv[3] ?? 200);
const BASELINE_PUSHES = RATE * 10;
const DAY = 86_400_000;
const options = {
  store: 'sqlite' as const,
  tlsPort: 0,
  wsPort: null,
  apiPort: 0,
  logLevel: 'silent' as const,
};

/** Writes `rows` acked messages of device "history" straight into the file (the server is stopped). */
function fillHistory(path: string, rows: number): void {
  const db = new Database(path);
  const settled = Date.now() - 30 * DAY;
  const insert = db.prepare(
    `INSERT INTO messages (id, device_id, seq, kind, payload, priority, expiration, collapse_id, accepted_at,
       state, sent_at, settled_at) VALUES (?, 'history', ?, 'message', '{"text":"an old message"}', 10, 0, NULL,
       ?, 'acked', ?, ?)`,
  );
  const receipt = db.prepare(
    `INSERT INTO receipts (message_id, device_id, event, at, detail) VALUES (?, 'history', 'sent', ?, NULL)`,
  );
  const chunk = db.transaction((from: number, to: number) => {
    for (let seq = from; seq < to; seq++) {
      const at = settled - (rows - seq);
      insert.run(`old-${seq}`, seq, at, at, at);
      if (seq % 10 === 0) receipt.run(`old-${seq}`, at);
    }
  });
  for (let from = 1; from <= rows; from += 50_000) chunk(from, Math.min(rows + 1, from + 50_000));
  db.prepare(`UPDATE sequences SET last_seq = ? WHERE device_id = 'history'`).run(rows);
  db.close();
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

interface Phase {
  name: string;
  pushes: number;
  p50: number;
  p99: number;
  max: number;
  loopP99: number;
}

/** Pushes at RATE until `until` resolves (or `count` pushes), each timed from submit to its ack. */
async function deliver(
  server: RunningServer,
  name: string,
  until: Promise<unknown> | number,
): Promise<Phase> {
  const latencies: number[] = [];
  const sentAt = new Map<string, number>();
  const pending = new Set<Promise<void>>();
  const waiters = new Map<string, () => void>();
  const off = server.engine.onReceipt((receipt) => {
    if (receipt.event !== 'acked') return;
    const started = sentAt.get(receipt.messageId);
    if (started === undefined) return;
    latencies.push(performance.now() - started);
    waiters.get(receipt.messageId)?.();
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let done = typeof until === 'number';
  if (typeof until !== 'number') void until.then(() => (done = true));
  const started = performance.now();
  for (let n = 0; typeof until === 'number' ? n < until : !done; n++) {
    const id = `${name}-${n}`;
    const acked = new Promise<void>((resolve) => waiters.set(id, resolve));
    pending.add(acked);
    void acked.then(() => pending.delete(acked));
    sentAt.set(id, performance.now());
    void server.engine.submit({ deviceId: 'live', id, kind: 'message', payload: { n }, priority: 10 });
    const next = started + ((n + 1) * 1000) / RATE;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await Promise.all(pending);
  loop.disable();
  off();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    name,
    pushes: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
    loopP99: loop.percentile(99) / 1e6,
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lp-bench-retention-'));
  try {
    const credential = 'bench-credential-of-the-live-device';
    let server = await startServer({ ...options, dataDir });
    for (const id of ['history', 'live'])
      await server.store.addDevice({
        id,
        credentialHash: hashCredential(credential),
        label: null,
        createdAt: 0,
      });
    await server.close();
    const filling = performance.now();
    fillHistory(join(dataDir, 'localpush.db'), ROWS);
    console.log(
      `history: ${ROWS} settled messages written in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
    );

    server = await startServer({ ...options, dataDir });
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${server.addresses.tls.port}`,
      deviceId: 'live',
      credential,
      pin: server.identity.spkiPin,
      onPush: () => undefined,
    });
    const connected = new Promise<void>((resolve) =>
      client.on('state', (s) => s === 'connected' && resolve()),
    );
    client.start();
    await connected;
    const retention = server.plugin(retentionPlugin);
    if (retention === null) throw new Error('retention is not running');

    const baseline = await deliver(server, 'baseline', BASELINE_PUSHES);
    const pruneStarted = performance.now();
    const run = retention.run();
    const during = await deliver(server, 'during-prune', run);
    const { pruned, batches } = await run;
    const pruneSeconds = (performance.now() - pruneStarted) / 1000;
    await client.stop();
    await server.close();

    console.log(
      `prune: ${pruned} messages in ${batches} batches, ${pruneSeconds.toFixed(1)} s (${Math.round(pruned / pruneSeconds)} msgs/s)`,
    );
    console.log(`pushes at ${RATE}/s, submit → ack (ms); event-loop delay p99 (ms)`);
    console.log('phase          pushes    p50     p99     max   loop p99');
    for (const p of [baseline, during])
      console.log(
        `${p.name.padEnd(13)} ${String(p.pushes).padStart(7)} ${p.p50.toFixed(2).padStart(6)} ${p.p99.toFixed(2).padStart(7)} ${p.max.toFixed(2).padStart(7)} ${p.loopP99.toFixed(2).padStart(8)}`,
      );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
