/**
 * The one retry back-off of localpush: capped exponential with full jitter, delay = random × min(max,
 * initial × 2^n). Used by the client's reconnects, the APNs client's retries and the provider host's
 * relaunches. Full jitter spreads everyone who failed at the same moment (a fleet of devices that lost
 * the server, senders hit by one APNs outage, providers crashing on the same network change) over the
 * whole window, so whatever they retry against is not hit by all of them in the same millisecond.
 * Pure: the random source is passed in, so tests pin it.
 */

/** Back-off tunables. */
export interface BackoffOptions {
  /** Window of the first retry, in milliseconds. Default 500. */
  initialMs?: number;
  /** Largest window, in milliseconds. Default 30 000. */
  maxMs?: number;
}

/** Defaults for {@link BackoffOptions} (the client's reconnect back-off). */
export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

/** The jitter window for retry number `attempt` (0-based): min(max, initial × 2^attempt). */
export function backoffCeiling(attempt: number, initialMs: number, maxMs: number): number {
  // 2^attempt overflows to Infinity for large attempts, which min() turns into the cap.
  return Math.min(maxMs, initialMs * 2 ** attempt);
}

/**
 * The delay before retry number `attempt` (0-based): floor(random × window), in [0, window) for a
 * random() in [0, 1); a random() of exactly 1 gives the whole window.
 */
export function backoffDelay(
  attempt: number,
  options: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  const ceiling = backoffCeiling(attempt, options.initialMs, options.maxMs);
  // Clamp in case a custom random() returns exactly 1 or strays outside [0, 1).
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}

/** Counts consecutive failed attempts and turns them into jittered delays. */
export class Backoff {
  private readonly window: Required<BackoffOptions>;
  private _attempts = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    if (!(initialMs >= 0) || !(maxMs >= initialMs)) {
      throw new RangeError(`backoff needs 0 ≤ initialMs ≤ maxMs, got ${initialMs} and ${maxMs}`);
    }
    this.window = { initialMs, maxMs };
  }

  /** Retries scheduled since the last {@link reset}. */
  get attempts(): number {
    return this._attempts;
  }

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    return backoffDelay(this._attempts++, this.window, this.random);
  }

  /** Called once an attempt proved healthy, so the next failure starts from the smallest window. */
  reset(): void {
    this._attempts = 0;
  }
}
