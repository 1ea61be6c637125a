/**
 * Store throughput: each message goes enqueue → markSent → acknowledge, as in live delivery, for
 * 100 devices and 50k messages submitted in concurrent waves (one message per device per step, so a
 * wave is what a busy event-loop turn would hand the store). Prints msgs/s per backend; no assertions.
 *
 *   node --import tsx bench/store.ts [messages] [devices]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createMemoryStore, openSqliteStore, type Store } from '../packages/server/src/store/index.js';

const MESSAGES = Number(process.argv[2] ?? 50_000);
const DEVICES = Number(process.argv[3] ?? 100);
const WAVE = 10; // messages per device per wave → 1000 operations of each kind in flight at once
const T0 = 1_700_000_000_000;

interface Result {
  name: string;
  seconds: number;
}

async function run(name: string, store: Store, waveSize: number): Promise<Result> {
  const devices = Array.from({ length: DEVICES }, (_, i) => `bench-${i}`);
  for (const id of devices) await store.addDevice({ id, credentialHash: '00', label: null, createdAt: T0 });
  const options = { maxQueuePerDevice: 10_000 };
  const perWave = DEVICES * waveSize;
  const started = performance.now();
  let next = 0;
  while (next < MESSAGES) {
    const count = Math.min(perWave, MESSAGES - next);
    const inputs = Array.from({ length: count }, (_, k) => {
      const n = next + k;
      return {
        id: `${name}-${n}`,
        deviceId: devices[n % DEVICES] ?? 'bench-0',
        kind: 'message' as const,
        payload: { n, text: 'hello from the benchmark' },
        priority: 10 as const,
        expiration: T0 / 1000 + 3600,
        collapseId: null,
        acceptedAt: T0 + n,
      };
    });
    next += count;
    const accepted = await Promise.all(inputs.map((m) => store.enqueue(m, options)));
    const byDevice = new Map<string, { seqs: number[]; ids: string[] }>();
    for (const { message } of accepted) {
      const entry = byDevice.get(message.deviceId) ?? { seqs: [], ids: [] };
      entry.seqs.push(message.seq);
      entry.ids.push(message.id);
      byDevice.set(message.deviceId, entry);
    }
    // One markSent per pushed message and one ack per message, as devices ack each push by id.
    await Promise.all(
      [...byDevice].flatMap(([deviceId, e]) =>
        e.seqs.map((seq) => store.markSent(deviceId, [seq], T0 + next)),
      ),
    );
    await Promise.all(
      [...byDevice].flatMap(([deviceId, e]) =>
        e.ids.map((id) => store.acknowledge(deviceId, { ids: [id] }, T0 + next + 1)),
      ),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return { name, seconds };
}

async function withSqlite(synchronous: 'normal' | 'full', name: string, waveSize: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'localpush-bench-'));
  try {
    return await run(name, await openSqliteStore({ path: join(dir, 'bench.db'), synchronous }), waveSize);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Result[] = [
  await run('memory', createMemoryStore(), WAVE),
  await withSqlite('normal', 'sqlite (synchronous=normal)', WAVE),
  await withSqlite('full', 'sqlite (synchronous=full)', WAVE),
];
const single = await withSqlite('normal', 'sqlite, one message per device per wave', 1);
// No concurrency at all: every operation awaited before the next, so each is its own commit. Fewer
// messages, since this is the slow path group commit exists to avoid.
const sequentialMessages = Math.min(MESSAGES, 5_000);
const sequential = await (async (): Promise<Result> => {
  const dir = await mkdtemp(join(tmpdir(), 'localpush-bench-'));
  try {
    const store = await openSqliteStore({ path: join(dir, 'bench.db'), synchronous: 'full' });
    await store.addDevice({ id: 'seq', credentialHash: '00', label: null, createdAt: T0 });
    const started = performance.now();
    for (let n = 0; n < sequentialMessages; n++) {
      const { message } = await store.enqueue(
        {
          id: `s-${n}`,
          deviceId: 'seq',
          kind: 'message',
          payload: { n },
          priority: 10,
          expiration: 0,
          collapseId: null,
          acceptedAt: T0 + n,
        },
        { maxQueuePerDevice: 10_000 },
      );
      await store.markSent('seq', [message.seq], T0 + n);
      await store.acknowledge('seq', { ids: [message.id] }, T0 + n);
    }
    const seconds = (performance.now() - started) / 1000;
    await store.close();
    return {
      name: 'sqlite (full), one operation per commit',
      seconds: (seconds * MESSAGES) / sequentialMessages,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
})();

console.log(`store benchmark: ${MESSAGES} messages × (enqueue + markSent + acknowledge), ${DEVICES} devices`);
console.log('(the last line: each operation awaited alone, measured on 5k messages and scaled)');
console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
for (const r of [...results, single, sequential]) {
  const rate = Math.round(MESSAGES / r.seconds).toLocaleString('en-US');
  console.log(`${r.name.padEnd(42)} ${rate.padStart(10)} msgs/s  (${r.seconds.toFixed(2)} s)`);
}
