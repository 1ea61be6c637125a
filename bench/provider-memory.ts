/**
 * Memory benchmark of a long-running provider: `node --import tsx bench/provider-memory.ts [pushes]`.
 *
 * Phase 1 (worker): a LocalPushProvider in a worker with the default 24 MiB heap limit receives a stream
 * of pushes (alerts and messages shown, calls and push-to-talk relayed to the app via postMessage); the
 * worker's heap is sampled (after a gc() inside the worker) every 50k pushes while the host's 60 s timer
 * keeps firing. The run passes when
 * the worker never exceeds the limit and its heap does not grow.
 * Phase 2 (in-process, forced GC): the same stream through a provider in this thread, sampling live heap
 * after gc(), which shows retained memory exactly (no garbage in the numbers).
 */
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '@localpush/protocol';
import { AppPushManager } from '../packages/client/src/sdk/manager.js';
import { MemoryPreferencesStore } from '../packages/client/src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../packages/client/src/sdk/network.js';
import { DEFAULT_MEMORY_LIMIT_MB, ProviderHost } from '../packages/client/src/sdk/host.js';
import { LocalPushProvider } from '../packages/client/src/sdk/local-provider.js';
import { FakeConnection } from '../packages/client/test/sdk/helpers.js';

const TOTAL = Number(process.argv[2] ?? 500_000);
const SAMPLE_EVERY = 50_000;
const MiB = (n: number): string => (n / 1024 / 1024).toFixed(2);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function workerPhase(): Promise<number[]> {
  const clock = new ManualClock();
  const store = new MemoryPreferencesStore();
  const monitor = new ScriptedNetworkMonitor();
  const samples: number[] = [];
  let crashed = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    isolation: 'worker',
    registry: {
      'bench.memory.provider': {
        module: fileURLToPath(new URL('./provider-memory-provider.ts', import.meta.url)),
        export: 'BenchProvider',
      },
    },
    log: (_level, message, fields) => {
      if (message !== 'sample' || fields === undefined) return;
      if (fields.done === true) return resolveDone();
      const heapUsed = Number(fields.heapUsed);
      samples.push(heapUsed);
      // Each sample stands for ~14 h of traffic at one push per second; fire the timer events of that span.
      for (let i = 0; i < 10; i++) clock.advance(60_000);
      const rss = process.memoryUsage().rss;
      console.log(
        `worker  pushes=${String(fields.pushes).padStart(8)}  liveHeap=${MiB(heapUsed).padStart(6)} MiB  ` +
          `oldSpace=${MiB(Number(fields.oldSpaceUsed)).padStart(6)} MiB  beforeGC=${MiB(Number(fields.heapBeforeGc)).padStart(6)} MiB  ` +
          `oldGenLimit=${DEFAULT_MEMORY_LIMIT_MB} MiB (V8 total ${MiB(Number(fields.heapLimit))})  processRSS=${MiB(rss)} MiB`,
      );
    },
  });
  host.on('crashed', (_id: string, err: Error, kind: string) => {
    crashed = true;
    console.log(`worker CRASHED (${kind}): ${err.message}`);
    resolveDone();
  });
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = 'bench.memory.provider';
  m.matchSSIDs = ['bench'];
  m.providerConfiguration = {
    url: 'bench://',
    deviceId: 'bench',
    credential: 'x',
    total: TOTAL,
    sampleEvery: SAMPLE_EVERY,
  };
  m.isEnabled = true;
  await m.saveToPreferences();
  let calls = 0;
  host.on('incomingCall', () => calls++);
  await host.start();
  monitor.joinWifi('bench');
  await done;
  monitor.leaveWifi();
  await host.stop();
  console.log(`worker  incoming calls relayed to the app: ${calls}; crashed: ${crashed}`);
  return samples;
}

async function inProcessPhase(): Promise<number[]> {
  const clock = new ManualClock();
  let conn: FakeConnection | undefined;
  const provider = new LocalPushProvider({
    connect: (o) => (conn = new FakeConnection(o)),
    notifier: { show: () => undefined },
  });
  const store = new MemoryPreferencesStore();
  const host = new ProviderHost({
    store,
    monitor: new ScriptedNetworkMonitor({ ssid: 'bench', ethernet: false }),
    clock,
    isolation: 'in-process',
    registry: { 'bench.memory.provider': { create: () => provider } },
  });
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = 'bench.memory.provider';
  m.matchSSIDs = ['bench'];
  m.providerConfiguration = { url: 'bench://', deviceId: 'bench', credential: 'x' };
  m.isEnabled = true;
  await m.saveToPreferences();
  await host.start();
  await host.idle();
  const samples: number[] = [];
  const kinds = ['alert', 'message', 'call', 'push-to-talk'] as const;
  for (let seq = 1; seq <= TOTAL; seq++) {
    await conn?.deliver({
      id: `m-${seq}`,
      seq,
      kind: kinds[seq % 4] ?? 'alert',
      payload: { title: 't', body: 'x'.repeat(150), n: seq },
    });
    if (seq % SAMPLE_EVERY === 0) {
      clock.advance(600_000);
      gc();
      const mem = process.memoryUsage();
      samples.push(mem.heapUsed);
      console.log(
        `inproc  pushes=${String(seq).padStart(8)}  liveHeap=${MiB(mem.heapUsed).padStart(6)} MiB  rss=${MiB(mem.rss)} MiB`,
      );
    }
  }
  console.log(`inproc  provider stats: ${JSON.stringify(provider.stats)}`);
  await host.stop();
  return samples;
}

function verdict(name: string, samples: number[], limitBytes: number): boolean {
  // Compare the second half with the first half after warm-up: growth means retention per push.
  const warm = samples.slice(1);
  const half = Math.floor(warm.length / 2);
  const avg = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const early = avg(warm.slice(0, half));
  const late = avg(warm.slice(half));
  const max = Math.max(...samples);
  const growth = late - early;
  const ok = max < limitBytes && growth < 1024 * 1024;
  console.log(
    `${name}: max ${MiB(max)} MiB (limit ${MiB(limitBytes)} MiB), early avg ${MiB(early)} MiB, late avg ${MiB(late)} MiB, ` +
      `growth ${MiB(growth)} MiB → ${ok ? 'FLAT, UNDER LIMIT' : 'GROWING OR OVER LIMIT'}`,
  );
  return ok;
}

console.log(
  `provider memory benchmark: ${TOTAL} pushes, sample every ${SAMPLE_EVERY}, node ${process.version}`,
);
const w = await workerPhase();
const p = await inProcessPhase();
const ok1 = verdict('worker', w, DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024);
const ok2 = verdict('in-process', p, Infinity);
process.exitCode = ok1 && ok2 ? 0 : 1;
