/**
 * Waiters for a message's ack, keyed by message id, each with its own deadline on the injected clock.
 * Every waiter is removed when it settles — by ack, by another terminal event, by its deadline or by
 * close — so nothing is left behind however a wait ends.
 */
import type { Clock, TimerHandle } from '@localpush/protocol';
import type { SendStatus } from './types.js';

interface Waiter {
  resolve: (status: SendStatus) => void;
  timer: TimerHandle;
}

/** Ack waiters keyed by message id. */
export class AckWaiters {
  private readonly byId = new Map<string, Set<Waiter>>();

  constructor(private readonly clock: Clock) {}

  /**
   * Registers a waiter for `messageId` that resolves with the status passed to {@link settle}, or with
   * `timeout` after `timeoutMs`.
   */
  wait(messageId: string, timeoutMs: number): { promise: Promise<SendStatus>; cancel: () => void } {
    let waiter: Waiter | undefined;
    const promise = new Promise<SendStatus>((resolve) => {
      const entry: Waiter = {
        resolve: (status) => {
          this.remove(messageId, entry);
          this.clock.clearTimeout(entry.timer);
          resolve(status);
        },
        timer: this.clock.setTimeout(() => entry.resolve('timeout'), Math.max(0, timeoutMs)),
      };
      waiter = entry;
      let set = this.byId.get(messageId);
      if (set === undefined) {
        set = new Set();
        this.byId.set(messageId, set);
      }
      set.add(entry);
    });
    // The executor ran synchronously, so the waiter exists; the ?. only satisfies the type checker.
    const registered: Waiter | undefined = waiter;
    return {
      promise,
      cancel: () => registered?.resolve('timeout'),
    };
  }

  /** Resolves every waiter of `messageId` with `status`. */
  settle(messageId: string, status: SendStatus): void {
    const set = this.byId.get(messageId);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter.resolve(status);
  }

  /** Resolves every waiter with `timeout` (engine close). */
  settleAll(status: SendStatus): void {
    for (const id of [...this.byId.keys()]) this.settle(id, status);
  }

  /** Number of waiters (for tests: proves that nothing leaks). */
  get size(): number {
    let n = 0;
    for (const set of this.byId.values()) n += set.size;
    return n;
  }

  private remove(messageId: string, waiter: Waiter): void {
    const set = this.byId.get(messageId);
    if (set === undefined) return;
    set.delete(waiter);
    if (set.size === 0) this.byId.delete(messageId);
  }
}
