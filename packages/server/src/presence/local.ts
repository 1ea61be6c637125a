/**
 * The session directory of a single process: a map from device to its authoritative session. Every
 * operation completes synchronously (the promises resolve at once), so listeners hear of a change before
 * the call returns — the ordering the gateway and the engine rely on.
 */
import type { Clock } from '@localpush/protocol';
import type {
  PresenceCloseReason,
  PresenceListener,
  PresenceRecord,
  PresenceSession,
  SessionDirectory,
} from './types.js';

/** Minimal logger shape (pino satisfies it). */
export interface PresenceLogger {
  error(obj: object, msg?: string): void;
}

export interface LocalSessionDirectoryOptions {
  clock: Clock;
  /** Name of this node in presence records. Default `local`. */
  nodeId?: string;
  logger?: PresenceLogger;
}

interface Entry {
  readonly session: PresenceSession;
  readonly since: number;
}

export class LocalSessionDirectory implements SessionDirectory {
  readonly nodeId: string;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: PresenceListener[] = [];

  constructor(private readonly options: LocalSessionDirectoryOptions) {
    this.nodeId = options.nodeId ?? 'local';
  }

  get size(): number {
    return this.entries.size;
  }

  open(session: PresenceSession, resumeThrough?: number): Promise<void> {
    const previous = this.entries.get(session.deviceId);
    this.entries.set(session.deviceId, { session, since: this.options.clock.now() });
    if (previous !== undefined && previous.session !== session) {
      // [LP-8.2] Listeners move to the new session before the old one is told to go, so nothing is
      // written to a connection that is about to close.
      this.tellClosed(previous.session, 'replaced');
      previous.session.evict('replaced');
    }
    this.tell((l) => l.sessionOpened(session, resumeThrough));
    return Promise.resolve();
  }

  release(session: PresenceSession): Promise<void> {
    if (this.entries.get(session.deviceId)?.session === session) {
      this.entries.delete(session.deviceId);
      this.tellClosed(session, 'closed');
    }
    return Promise.resolve();
  }

  renew(_session: PresenceSession): void {
    // One process: a session lives exactly as long as its connection, so there is no lease to renew.
  }

  evict(deviceId: string, reason: 'removed'): Promise<boolean> {
    const entry = this.entries.get(deviceId);
    if (entry === undefined) return Promise.resolve(false);
    this.entries.delete(deviceId);
    this.tellClosed(entry.session, reason);
    entry.session.evict(reason);
    return Promise.resolve(true);
  }

  local(deviceId: string): PresenceSession | undefined {
    return this.entries.get(deviceId)?.session;
  }

  isOnline(deviceId: string): boolean {
    return this.entries.get(deviceId)?.session.isOpen ?? false;
  }

  locate(deviceId: string): Promise<PresenceRecord | undefined> {
    const entry = this.entries.get(deviceId);
    return Promise.resolve(
      entry === undefined
        ? undefined
        : { deviceId, sessionId: entry.session.sessionId, node: this.nodeId, since: entry.since },
    );
  }

  *sessions(): IterableIterator<PresenceSession> {
    for (const entry of this.entries.values()) yield entry.session;
  }

  subscribe(listener: PresenceListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private tellClosed(session: PresenceSession, reason: PresenceCloseReason): void {
    this.tell((l) => l.sessionClosed(session, reason));
  }

  /** Calls every listener; one that throws is logged and does not keep the others from hearing. */
  private tell(call: (listener: PresenceListener) => void): void {
    for (const listener of [...this.listeners]) {
      try {
        call(listener);
      } catch (error) {
        this.options.logger?.error({ err: error }, 'presence listener failed');
      }
    }
  }
}
