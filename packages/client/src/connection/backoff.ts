/**
 * Reconnect back-off: capped exponential with full jitter (delay = random × min(max, initial × 2^n)).
 * Full jitter spreads a fleet of devices that lost the server at the same moment over the whole window,
 * so a restarted server is not hit by every device in the same millisecond.
 */

/** Back-off tunables. */
export interface BackoffOptions {
  /** Window of the first retry, in milliseconds. Default 500. */
  initialMs?: number;
  /** Largest window, in milliseconds. Default 30 000. */
  maxMs?: number;
}

/** Defaults for {@link BackoffOptions}. */
export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

/** The jitter window for retry number `attempt` (0-based): min(max, initial × 2^attempt). */
export function backoffCeiling(attempt: number, initialMs: number, maxMs: number): number {
  // 2^attempt overflows to Infinity for large attempts, which min() turns into the cap.
  return Math.min(maxMs, initialMs * 2 ** attempt);
}

/** Counts consecutive failed attempts and turns them into jittered delays. */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private _attempts = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    if (!(this.initialMs >= 0) || !(this.maxMs >= this.initialMs)) {
      throw new RangeError(`backoff needs 0 ≤ initialMs ≤ maxMs, got ${this.initialMs} and ${this.maxMs}`);
    }
  }

  /** Retries scheduled since the last {@link reset}. */
  get attempts(): number {
    return this._attempts;
  }

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    const ceiling = backoffCeiling(this._attempts, this.initialMs, this.maxMs);
    this._attempts += 1;
    // Clamp in case a custom random() returns exactly 1 or strays outside [0, 1).
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.floor(r * ceiling);
  }

  /** Called once a connection proved healthy, so the next failure starts from the smallest window. */
  reset(): void {
    this._attempts = 0;
  }
}
