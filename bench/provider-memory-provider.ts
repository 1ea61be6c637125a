/**
 * The provider the memory benchmark runs inside a worker: a LocalPushProvider whose connection is a
 * generator that pushes a mix of alerts, messages, calls and push-to-talk messages as fast as the provider
 * acknowledges them, and logs a heap sample of the worker's isolate every `sampleEvery` pushes.
 */
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventEmitter } from 'node:events';
import type { Push } from '@localpush/protocol';
import { LocalPushProvider } from '../packages/client/src/sdk/local-provider.js';
import type { PushConnection, PushConnectionOptions } from '../packages/client/src/sdk/connection.js';

// gc() inside the worker, so samples show retained memory rather than not-yet-collected garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const KINDS: Push['kind'][] = ['alert', 'message', 'alert', 'message', 'call', 'push-to-talk'];

class GeneratorConnection extends EventEmitter implements PushConnection {
  private running = false;

  constructor(
    private readonly options: PushConnectionOptions,
    private readonly total: number,
    private readonly sampleEvery: number,
    private readonly sample: (fields: Record<string, unknown>) => void,
  ) {
    super();
  }

  start(): Promise<void> {
    this.running = true;
    void this.pump();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    return Promise.resolve();
  }

  reconnect(): void {}

  isStale(): boolean {
    return false;
  }

  private async pump(): Promise<void> {
    for (let seq = 1; seq <= this.total && this.running; seq++) {
      const kind = KINDS[seq % KINDS.length] ?? 'alert';
      await this.options.onPush({
        type: 'push',
        id: `m-${seq}`,
        seq,
        kind,
        priority: 10,
        expiration: 0,
        payload: { title: `Message ${seq}`, body: 'x'.repeat(120 + (seq % 80)), caller: 'door', n: seq },
        ...(seq % 3 === 0 ? { collapseId: `c${seq % 17}` } : {}),
      });
      if (seq % this.sampleEvery === 0) {
        const before = getHeapStatistics().used_heap_size;
        gc();
        const h = getHeapStatistics();
        const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
        this.sample({
          pushes: seq,
          heapBeforeGc: before,
          heapUsed: h.used_heap_size,
          oldSpaceUsed: old?.space_used_size ?? 0,
          heapLimit: h.heap_size_limit,
        });
        // Yield to the event loop so host messages (timer events, stop) get through between batches.
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    this.sample({ done: true });
  }
}

/** Reads `total` and `sampleEvery` from providerConfiguration. */
export class BenchProvider extends LocalPushProvider {
  constructor() {
    super({
      connect: (o) => {
        const cfg = this.providerConfiguration;
        return new GeneratorConnection(o, Number(cfg.total), Number(cfg.sampleEvery), (fields) =>
          this.log('info', 'sample', fields),
        );
      },
      notifier: { show: () => undefined },
    });
  }
}
