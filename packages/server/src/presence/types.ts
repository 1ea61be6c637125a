/**
 * Presence: which device is connected, through which session, on which node. One owner — the session
 * directory — decides that a device's newest session is the authoritative one [LP-8.2], tells the
 * replaced session to go, and reports every change to its listeners (the engine, the SimplePush bridge,
 * metrics). The gateway, the bridge and every feature ask it and never keep a copy.
 *
 * The contract fits a local directory (one process, synchronous underneath) and a shared one (several
 * nodes over Redis: device → node + session with a TTL renewed by heartbeats, replacement across nodes,
 * lookups that are asynchronous). The conformance suite in test/presence/conformance.ts holds every
 * implementation to it.
 */
import type { DeviceSession } from '../engine/types.js';

/** Why a session stopped being its device's. */
export type PresenceCloseReason =
  /** The connection ended (or its node's lease expired). */
  | 'closed'
  /** A newer session of the same device took over. [LP-8.2] */
  | 'replaced'
  /** The device was removed while connected. [LP-4.4] */
  | 'removed';

/** A session the directory can hold: a device session that can be told to go away. */
export interface PresenceSession extends DeviceSession {
  /** Asked to end the session (goaway for `replaced`, an error frame for `removed`), then close. */
  evict(reason: Exclude<PresenceCloseReason, 'closed'>): void;
}

/** Where a device is connected, as any node can learn it. */
export interface PresenceRecord {
  readonly deviceId: string;
  readonly sessionId: string;
  /** The node holding the session ({@link SessionDirectory.nodeId} of its directory). */
  readonly node: string;
  /** When the session became the device's (ms since the epoch, the directory's clock). */
  readonly since: number;
}

/** What the directory reports. Calls for one device arrive in order; a replacement closes before it opens. */
export interface PresenceListener {
  /**
   * A session became its device's. `resumeThrough` is its hello's resume cursor, a cumulative ack
   * [LP-4.5]. Only sessions on this node are reported (a session on another node has no local object).
   */
  sessionOpened(session: DeviceSession, resumeThrough: number | undefined): void;
  /** A session of this node stopped being its device's. */
  sessionClosed(session: DeviceSession, reason: PresenceCloseReason): void;
}

/** The one owner of presence. */
export interface SessionDirectory {
  /** This node's name in {@link PresenceRecord.node}. */
  readonly nodeId: string;
  /** Sessions this node holds. */
  readonly size: number;
  /**
   * Makes `session` its device's authoritative session. A previous one — on this node or another — is
   * reported closed (`replaced`) and evicted, before this one is reported open. Resolves once recorded.
   */
  open(session: PresenceSession, resumeThrough?: number): Promise<void>;
  /** The session ended. Reported (`closed`) only when it was still its device's; otherwise nothing. */
  release(session: PresenceSession): Promise<void>;
  /** The session is alive (a heartbeat was answered): a shared directory renews its lease. */
  renew(session: PresenceSession): void;
  /** Ends the device's session wherever it is (`removed`). Resolves true when there was one. */
  evict(deviceId: string, reason: 'removed'): Promise<boolean>;
  /** The device's session when this node holds it and it is the authoritative one. */
  local(deviceId: string): PresenceSession | undefined;
  /** Whether the device is connected: at once, from what this node knows (a shared one may lag). */
  isOnline(deviceId: string): boolean;
  /** Where the device is connected, authoritatively (across nodes for a shared directory). */
  locate(deviceId: string): Promise<PresenceRecord | undefined>;
  /** The sessions this node holds. */
  sessions(): IterableIterator<PresenceSession>;
  /** Follows every change; returns the unsubscribe function. Listeners are called in subscription order. */
  subscribe(listener: PresenceListener): () => void;
  /** Stops (a shared directory gives up its leases). The sessions themselves are the gateway's to close. */
  close(): Promise<void>;
}
