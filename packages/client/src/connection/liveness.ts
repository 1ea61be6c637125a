/**
 * The client's own dead-server detection [LP-5.6]. A silent partition — Wi-Fi roamed, a NAT mapping
 * dropped, a cable pulled two hops away — closes nothing and reports nothing: the socket stays open, and
 * writes into it succeed for minutes. The only sign is that the server's heartbeats stop. So once the
 * session is open, the client expects to hear from the server (a heartbeat, or any other frame) at least
 * every `interval + grace`, the same span after which the server gives up on the device [LP-5.3].
 */
import type { Clock, TimerHandle } from '@localpush/protocol';

/**
 * One deadline per connected session. Frames only move a timestamp; the timer is re-armed when it fires
 * early, so a burst of pushes costs no timer churn.
 */
export class LivenessWatchdog {
  private lastHeardAt: number;
  private timer: TimerHandle | undefined;

  /**
   * Starts counting now (the welcome is the first sign of life). `onSilent` is called once, with how long
   * the server has been silent, when `limitMs` passed without {@link heard}.
   */
  constructor(
    private readonly clock: Clock,
    readonly limitMs: number,
    private readonly onSilent: (silentMs: number) => void,
  ) {
    this.lastHeardAt = clock.now();
    this.arm(limitMs);
  }

  /** Something arrived from the server. */
  heard(): void {
    this.lastHeardAt = this.clock.now();
  }

  /** Cancels the deadline (the session ended some other way). */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => this.check(), delayMs);
  }

  private check(): void {
    this.timer = undefined;
    const silentMs = this.clock.now() - this.lastHeardAt;
    if (silentMs >= this.limitMs) this.onSilent(silentMs);
    else this.arm(this.limitMs - silentMs);
  }
}
