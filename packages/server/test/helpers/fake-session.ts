/**
 * An in-test DeviceSession: not a socket, just a recorder. It keeps every push and notice the engine
 * writes, lets a test wait for them without sleeping, and acks through the engine like the gateway does.
 */
import type { Ack, Notice, Push } from '@localpush/protocol';
import type { DeviceSession, SessionListener } from '../../src/engine/types.js';

let sessionCounter = 0;

/** A recording DeviceSession. */
export class FakeSession implements DeviceSession {
  readonly sessionId: string;
  readonly pushes: Push[] = [];
  readonly notices: Notice[] = [];
  private open = true;
  /** When false, sendPush fails like a session whose write queue overflowed (and closes it). */
  acceptPushes = true;
  /** What the engine reads as `writable`; set it back to true with {@link drained}. */
  writable = true;
  /** Bumped by a test to show the device reading (a drain, a heartbeat ack). */
  progress = 0;
  /** How often the engine asked for a sign of reading, and whether it dropped the session. */
  readingChecks = 0;
  droppedSlow = false;
  private readonly watchers = new Set<() => void>();

  constructor(readonly deviceId: string) {
    this.sessionId = `fake-${++sessionCounter}`;
  }

  get isOpen(): boolean {
    return this.open;
  }

  sendPush(push: Push): number {
    if (!this.open) return 0;
    if (!this.acceptPushes) {
      this.open = false;
      return 0;
    }
    this.pushes.push(push);
    this.notify();
    return JSON.stringify(push).length;
  }

  checkReading(): void {
    this.readingChecks += 1;
  }

  dropSlowConsumer(): void {
    this.droppedSlow = true;
    this.open = false;
  }

  /** The write queue drained: writable again, and the listener told, as the gateway does. */
  drained(listener: SessionListener): void {
    this.writable = true;
    this.progress += 1;
    listener.sessionWritable(this);
  }

  sendNotice(notice: Notice): void {
    if (!this.open) return;
    this.notices.push(notice);
    this.notify();
  }

  /** Seqs of the pushes written so far, in order. */
  get seqs(): number[] {
    return this.pushes.map((p) => p.seq);
  }

  /** Opens this session on the listener (the gateway's completed hello). */
  connect(listener: SessionListener, resumeThrough?: number): this {
    listener.sessionOpened(this, resumeThrough);
    return this;
  }

  /** Closes the session and reports it, as the gateway does when the connection ends. */
  disconnect(listener: SessionListener): void {
    this.open = false;
    listener.sessionClosed(this);
  }

  /** Acks like the device would; returns the listener's verdict (false = LP_ACK_INVALID). */
  ack(listener: SessionListener, ack: Omit<Ack, 'type'>): boolean {
    return listener.ackReceived(this, { type: 'ack', ...ack });
  }

  /** Acks every push written so far, cumulatively. */
  ackAll(listener: SessionListener): boolean {
    const last = this.pushes.at(-1);
    return last === undefined ? true : this.ack(listener, { through: last.seq });
  }

  /** Resolves once at least `count` pushes were written (no timers: driven by sendPush). */
  waitForPushes(count: number): Promise<Push[]> {
    return this.waitFor(() => this.pushes.length >= count).then(() => this.pushes.slice());
  }

  /** Resolves once at least `count` notices were written. */
  waitForNotices(count: number): Promise<Notice[]> {
    return this.waitFor(() => this.notices.length >= count).then(() => this.notices.slice());
  }

  private waitFor(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
    });
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}
