/**
 * An injectable clock. Every timer in localpush (heartbeats, ack timeouts, back-off, the provider's 60 s
 * timer) goes through one, so tests advance time instead of sleeping.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Clock {
  /** Milliseconds since the UNIX epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. Timers are unref'd so that a pending heartbeat never keeps a process alive by itself. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};

interface ManualTimer {
  at: number;
  order: number;
  callback: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires every timer that falls due, in time order,
 * including timers that those callbacks set within the advanced span.
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly timers = new Set<ManualTimer>();
  private order = 0;

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { at: this.current + Math.max(0, delayMs), order: this.order++, callback };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as ManualTimer);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (
          t.at <= target &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.order < next.order))
        ) {
          next = t;
        }
      }
      if (next === undefined) break;
      this.timers.delete(next);
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = target;
  }
}
