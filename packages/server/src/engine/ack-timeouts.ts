/**
 * Ack timeouts [LP-6.8]: one timer per device with pushes in flight, due when its oldest push's ack is,
 * not one per push — at tens of thousands of pushes a second a timer per message is a measurable share
 * of the server's CPU (docs/benchmarks.md). An overdue push is reported to the listeners (the APNs
 * fallback's hook) and written again on the same connection.
 */
import type { Clock } from '@localpush/protocol';
import { isExpiredAt } from '../store/rules.js';
import type { Store, StoredMessage } from '../store/types.js';
import type { EngineLogger } from './contracts.js';
import type { DeliveryEngineOptions } from './options.js';
import { leaveWindow, type DeviceState, type InFlight } from './state.js';
import type { DeviceSession } from './types.js';

/** What the ack timeouts need of the engine. */
export interface AckTimeoutDeps {
  readonly clock: Clock;
  readonly logger: EngineLogger | undefined;
  readonly options: DeliveryEngineOptions;
  readonly store: Store;
  /** Runs an operation in the device's chain (Engine.background). */
  background(deviceId: string, what: string, operation: () => Promise<void>, retry?: () => void): void;
  /** Writes a push and does its bookkeeping (Engine.write); false when the session refused it. */
  write(
    state: DeviceState,
    session: DeviceSession,
    message: StoredMessage,
    now: number,
    detail: string | null,
  ): boolean;
  markSent(state: DeviceState, written: readonly StoredMessage[], now: number): Promise<void>;
}

export class AckTimeouts {
  readonly listeners = new Set<(message: StoredMessage) => void>();

  constructor(private readonly deps: AckTimeoutDeps) {}

  /** Arms the device's timer for its oldest in-flight push, unless it is armed already. */
  start(state: DeviceState): void {
    if (state.ackTimer !== undefined) return;
    const oldest = state.inFlight.values().next();
    if (oldest.done === true) return;
    const { clock, options } = this.deps;
    const session = state.session;
    const delay = Math.max(0, oldest.value.writtenAt + options.ackTimeoutMs - clock.now());
    state.ackTimer = clock.setTimeout(() => {
      state.ackTimer = undefined;
      if (session === undefined || state.session !== session) return;
      this.deps.background(
        state.deviceId,
        'ack timeout',
        () => this.timedOut(state, session),
        () => this.start(state),
      );
    }, delay);
  }

  stop(state: DeviceState): void {
    if (state.ackTimer !== undefined) this.deps.clock.clearTimeout(state.ackTimer);
    state.ackTimer = undefined;
  }

  /**
   * The pushes of the session whose ack is overdue: each is reported to the listeners and written again
   * on the same connection — a repeat the device acks without handing it to the app twice (LP-6.4), or
   * the retry of a push whose handler failed. Recorded as a redelivery (a second `sent` receipt). A push
   * that cannot be written now (the connection is full) gets another ack timeout from now. Runs inside
   * the device's chain.
   */
  private async timedOut(state: DeviceState, session: DeviceSession): Promise<void> {
    const { clock, options, store, logger } = this.deps;
    const now = clock.now();
    const due: InFlight[] = [];
    for (const entry of state.inFlight.values()) {
      if (entry.writtenAt + options.ackTimeoutMs > now) break;
      due.push(entry);
    }
    const messages = await Promise.all(due.map((entry) => store.getMessage(entry.id)));
    const rewritten: StoredMessage[] = [];
    const detail = `redelivered: not acknowledged within ${options.ackTimeoutMs} ms`;
    for (const message of messages) {
      if (state.session !== session) return;
      if (message === undefined) continue;
      const entry = state.inFlight.get(message.seq);
      if (entry === undefined || entry.id !== message.id || message.state !== 'sent') continue;
      logger?.debug({ device: state.deviceId, id: message.id }, 'message not acknowledged in time');
      this.tell(message);
      if (state.inFlight.get(message.seq) !== entry) continue; // a listener settled it (fell back)
      // Now-or-never is at most once [LP-6.2]; an expired one is the sweep's. Neither holds a slot.
      if (message.expiration === 0 || isExpiredAt(message, now)) {
        leaveWindow(state, message.seq);
        continue;
      }
      if (session.writable && this.deps.write(state, session, message, now, detail)) {
        rewritten.push(message);
      } else if (session.isOpen) {
        // The connection is full: the device is busy reading what came before; time it from now.
        state.inFlight.delete(message.seq);
        state.inFlight.set(message.seq, { ...entry, writtenAt: now });
      }
    }
    this.start(state);
    await this.deps.markSent(state, rewritten, now);
  }

  private tell(message: StoredMessage): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch (error) {
        this.deps.logger?.error({ err: error }, 'ack-timeout listener failed');
      }
    }
  }
}
