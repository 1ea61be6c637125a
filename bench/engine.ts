/**
 * The delivery engine alone: its CPU per message with no sockets, no HTTP and no codec — submit, write
 * to a session, ack, and the three receipts a feed subscriber sees — for N devices with M messages to
 * random devices, submitted in batches as the batch API does. What the server's CPU per message in the
 * load harness (docs/benchmarks.md) spends above Node's own I/O is mostly here. Prints figures, no
 * assertions; best of R rounds, because a shared machine only ever adds time.
 *
 *   node --conditions=source --import tsx bench/engine.ts [--devices 10000] [--messages 50000]
 *     [--batch 500] [--rounds 3] [--store memory,sqlite]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock, type Notice, type Push } from '@localpush/protocol';
import { createDeliveryEngine } from '../packages/server/src/engine/engine.js';
import type { DeviceSession } from '../packages/server/src/engine/types.js';
import { createMemoryStore, openSqliteStore, type Store } from '../packages/server/src/store/index.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    store: { type: 'string', default: 'memory,sqlite' },
  },
});
const DEVICES = Number(values.devices);
const MESSAGES = Number(values.messages);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);

/** A session that keeps the seq of its last push, so that the bench can ack it as a device would. */
class BenchSession implements DeviceSession {
  readonly sessionId: string;
  isOpen = true;
  lastSeq = 0;
  constructor(readonly deviceId: string) {
    this.sessionId = `s-${deviceId}`;
  }
  sendPush(push: Push): number {
    this.lastSeq = push.seq;
    return 1;
  }
  sendNotice(_notice: Notice): void {}
  readonly writable = true;
  readonly progress = 0;
  checkReading(): void {}
  dropSlowConsumer(): void {}
}

async function round(kind: string): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'localpush-engine-bench-'));
  const store: Store =
    kind === 'sqlite' ? await openSqliteStore({ path: join(dir, 'bench.sqlite') }) : createMemoryStore();
  const engine = createDeliveryEngine({ store, clock: systemClock, options: { maxQueuePerDevice: 100_000 } });
  let receipts = 0;
  engine.onReceipt(() => receipts++);
  const sessions: BenchSession[] = [];
  const now = Date.now();
  await Promise.all(
    Array.from({ length: DEVICES }, (_, i) =>
      store.addDevice({ id: `d${i}`, credentialHash: '00', label: null, createdAt: now }),
    ),
  );
  for (let i = 0; i < DEVICES; i++) {
    const session = new BenchSession(`d${i}`);
    sessions.push(session);
    engine.sessionOpened(session, undefined);
  }
  await engine.idle();
  let seed = 1;
  const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const started = process.cpuUsage();
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    const targets = Array.from({ length: Math.min(BATCH, MESSAGES - sent) }, () => {
      const session = sessions[Math.floor(random() * DEVICES)];
      if (session === undefined) throw new Error('no session');
      return session;
    });
    await Promise.all(
      targets.map((session, k) =>
        engine.submit({
          deviceId: session.deviceId,
          id: `m${sent + k}`,
          kind: 'message',
          payload: { n: sent + k, text: 'benchmark message' },
          priority: 10,
        }),
      ),
    );
    // Every device acks what it got, once per batch, as the simulator's coalesced acks do.
    for (const session of new Set(targets))
      engine.ackReceived(session, { type: 'ack', through: session.lastSeq });
    await engine.idle();
  }
  const used = process.cpuUsage(started);
  if (receipts < MESSAGES * 3) throw new Error(`only ${receipts} receipts for ${MESSAGES} messages`);
  await engine.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
  return (used.user + used.system) / MESSAGES;
}

console.log(
  `engine alone, ${DEVICES.toLocaleString('en-US')} devices, ${MESSAGES.toLocaleString('en-US')} messages in batches of ${BATCH}, ${process.version}`,
);
for (const kind of values.store.split(',')) {
  const figures: number[] = [];
  for (let r = 0; r < ROUNDS; r++) figures.push(await round(kind));
  const best = Math.min(...figures);
  console.log(
    `${kind.padEnd(8)} ${best.toFixed(1).padStart(6)} µs CPU per message (best of ${ROUNDS}: ${figures.map((f) => f.toFixed(1)).join(', ')})`,
  );
}
