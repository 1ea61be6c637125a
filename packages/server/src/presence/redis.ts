/**
 * The session directory shared by several nodes over Redis: `<prefix>:pr:{<device>}` holds the device's
 * authoritative session as `[node, session, since]`, with a lease (PX) that the holding node renews
 * while the device answers heartbeats. A node that dies stops renewing, so its devices are offline for
 * everyone within one lease (heartbeat interval + grace + one renewal period) even if they never
 * reconnect; those that do reconnect elsewhere take the key over at once.
 *
 * What a node knows of its own sessions it knows synchronously, exactly like the local directory (the
 * gateway and the engine rely on hearing of a change before `open` returns); Redis is told right after,
 * in the order of the calls (one connection, and each device's key on one shard). The newest write of a
 * device's key wins: `SET … GET` returns the previous holder, which is told over the bus to evict its
 * session ([LP-8.2] across nodes). A renewal that finds another node's session in the key learns that it
 * was replaced even if that message was lost, and evicts its own.
 *
 * Renewals are batched: a heartbeat answer only marks the session; every `renewEveryMs` the marked
 * sessions' leases are renewed in one pipelined burst (ioredis auto-pipelining; per shard on a Cluster).
 */
import type { Clock, TimerHandle } from '@localpush/protocol';
import { createRedisClient, translateRedisError, waitUntilReady } from '../store/redis-connect.js';
import type { RedisClient, RedisConnectionOptions } from '../store/redis-connect.js';
import type { BusMessage, ClusterBus } from './redis-bus.js';
import type {
  PresenceCloseReason,
  PresenceListener,
  PresenceRecord,
  PresenceSession,
  SessionDirectory,
} from './types.js';
import type { PresenceLogger } from './local.js';

/** Sets the lease when the key is absent or still this session's; 0 when another session holds it. */
const RENEW = `
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** Deletes the key when it still holds this session. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Deletes the key, returning what it held. */
const TAKE = `
local held = redis.call('GET', KEYS[1])
if held then redis.call('DEL', KEYS[1]) end
return held`;

interface PresenceCommands {
  lpPresenceRenew(key: string, value: string, leaseMs: number): Promise<number>;
  lpPresenceRelease(key: string, value: string): Promise<number>;
  lpPresenceTake(key: string): Promise<string | null>;
}

export interface RedisSessionDirectoryOptions {
  readonly redis: RedisConnectionOptions;
  readonly bus: ClusterBus;
  readonly clock: Clock;
  /** Key prefix of the deployment (`--redis-prefix`). */
  readonly prefix: string;
  /** How long a session stays recorded without a renewal: heartbeat interval + grace + renewEveryMs. */
  readonly leaseMs: number;
  /** How often marked sessions are renewed, in one batch. Default a quarter of the lease, at most 1 s. */
  readonly renewEveryMs?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: PresenceLogger & { warn(obj: object, msg?: string): void };
}

interface Entry {
  readonly session: PresenceSession;
  readonly since: number;
  /** What this node wrote into the device's key. */
  readonly value: string;
}

/** A device seen on another node: from a replacement notice or a lookup; trusted for one lease. */
interface RemoteEntry {
  readonly record: PresenceRecord;
  readonly until: number;
}

/** Connects and returns the directory. */
export async function openRedisSessionDirectory(
  options: RedisSessionDirectoryOptions,
): Promise<RedisSessionDirectory> {
  const client = createRedisClient(options.redis);
  client.on('error', () => {});
  try {
    await waitUntilReady(client, options.connectTimeoutMs ?? 10_000, 'the session directory');
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return new RedisSessionDirectory(client, options);
}

export class RedisSessionDirectory implements SessionDirectory {
  readonly nodeId: string;
  private readonly entries = new Map<string, Entry>();
  private readonly remote = new Map<string, RemoteEntry>();
  private readonly listeners: PresenceListener[] = [];
  private readonly commands: PresenceCommands;
  private readonly renewEveryMs: number;
  /** Devices whose sessions answered a heartbeat since the last renewal. */
  private readonly marked = new Set<string>();
  private renewTimer: TimerHandle | undefined;
  private readonly stopListening: () => void;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisSessionDirectoryOptions,
  ) {
    this.nodeId = options.bus.nodeId;
    this.renewEveryMs = options.renewEveryMs ?? Math.min(1_000, Math.max(10, options.leaseMs / 4));
    client.defineCommand('lpPresenceRenew', { numberOfKeys: 1, lua: RENEW });
    client.defineCommand('lpPresenceRelease', { numberOfKeys: 1, lua: RELEASE });
    client.defineCommand('lpPresenceTake', { numberOfKeys: 1, lua: TAKE });
    this.commands = client as unknown as PresenceCommands;
    this.stopListening = options.bus.onMessage((message) => this.onBus(message));
  }

  get size(): number {
    return this.entries.size;
  }

  async open(session: PresenceSession, resumeThrough?: number): Promise<void> {
    const deviceId = session.deviceId;
    const previous = this.entries.get(deviceId);
    const since = this.options.clock.now();
    const value = JSON.stringify([this.nodeId, session.sessionId, since]);
    this.entries.set(deviceId, { session, since, value });
    this.remote.delete(deviceId);
    if (previous !== undefined && previous.session !== session) {
      // [LP-8.2] As in the local directory: listeners move to the new session before the old one goes.
      this.tellClosed(previous.session, 'replaced');
      previous.session.evict('replaced');
    }
    this.tell((l) => l.sessionOpened(session, resumeThrough));
    let held: string | null;
    try {
      held = await this.client.set(this.keyOf(deviceId), value, 'PX', this.options.leaseMs, 'GET');
    } catch (error) {
      // The next renewal writes the key (it sets an absent one); until then other nodes see it offline.
      this.options.logger?.warn({ err: error, device: deviceId }, 'could not record a session in Redis');
      return;
    }
    const holder = held === null ? undefined : decode(deviceId, held);
    if (holder !== undefined && holder.node !== this.nodeId) {
      this.options.bus.send(holder.node, {
        t: 'evict',
        device: deviceId,
        session: holder.sessionId,
        reason: 'replaced',
        by: { node: this.nodeId, session: session.sessionId },
      });
    }
  }

  async release(session: PresenceSession): Promise<void> {
    const entry = this.entries.get(session.deviceId);
    if (entry?.session !== session) return;
    this.entries.delete(session.deviceId);
    this.marked.delete(session.deviceId);
    this.tellClosed(session, 'closed');
    try {
      await this.commands.lpPresenceRelease(this.keyOf(session.deviceId), entry.value);
    } catch (error) {
      // The lease runs out by itself.
      this.options.logger?.warn({ err: error, device: session.deviceId }, 'could not release a session');
    }
  }

  renew(session: PresenceSession): void {
    if (this.closed || this.entries.get(session.deviceId)?.session !== session) return;
    this.marked.add(session.deviceId);
    this.renewTimer ??= this.options.clock.setTimeout(() => {
      this.renewTimer = undefined;
      void this.renewMarked();
    }, this.renewEveryMs);
  }

  async evict(deviceId: string, reason: 'removed'): Promise<boolean> {
    const entry = this.entries.get(deviceId);
    if (entry !== undefined) {
      this.entries.delete(deviceId);
      this.marked.delete(deviceId);
      this.tellClosed(entry.session, reason);
      entry.session.evict(reason);
    }
    this.remote.delete(deviceId);
    let held: string | null;
    try {
      held = await this.commands.lpPresenceTake(this.keyOf(deviceId));
    } catch (error) {
      throw translateRedisError(error);
    }
    const holder = held === null ? undefined : decode(deviceId, held);
    if (holder !== undefined && holder.node !== this.nodeId) {
      this.options.bus.send(holder.node, { t: 'evict', device: deviceId, session: holder.sessionId, reason });
    }
    return entry !== undefined || holder !== undefined;
  }

  local(deviceId: string): PresenceSession | undefined {
    return this.entries.get(deviceId)?.session;
  }

  isOnline(deviceId: string): boolean {
    const entry = this.entries.get(deviceId);
    if (entry !== undefined) return entry.session.isOpen;
    const seen = this.remote.get(deviceId);
    if (seen === undefined) return false;
    if (seen.until > this.options.clock.now()) return true;
    this.remote.delete(deviceId);
    return false;
  }

  async locate(deviceId: string): Promise<PresenceRecord | undefined> {
    const entry = this.entries.get(deviceId);
    if (entry !== undefined) {
      return { deviceId, sessionId: entry.session.sessionId, node: this.nodeId, since: entry.since };
    }
    let held: string | null;
    try {
      held = await this.client.get(this.keyOf(deviceId));
    } catch (error) {
      throw translateRedisError(error);
    }
    const record = held === null ? undefined : decode(deviceId, held);
    if (record === undefined || record.node === this.nodeId) {
      // This node's own key without a local session: a leftover of a restart under the same name.
      this.remote.delete(deviceId);
      return undefined;
    }
    this.remote.set(deviceId, { record, until: this.options.clock.now() + this.options.leaseMs });
    return record;
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

  /**
   * Stops renewing and forgets the sessions without touching their keys: they expire within one lease,
   * which is what other nodes would see of a crash, and a device that reconnects elsewhere meanwhile
   * takes its key over at once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    if (this.renewTimer !== undefined) this.options.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.marked.clear();
    await this.client.quit().catch(() => {});
    this.client.disconnect();
  }

  private keyOf(deviceId: string): string {
    return `${this.options.prefix}:pr:{${deviceId}}`;
  }

  /** Renews every marked session's lease: one command each, pipelined together. */
  private async renewMarked(): Promise<void> {
    const devices = [...this.marked];
    this.marked.clear();
    await Promise.all(
      devices.map(async (deviceId) => {
        const entry = this.entries.get(deviceId);
        if (entry === undefined || this.closed) return;
        let held: number;
        try {
          held = await this.commands.lpPresenceRenew(this.keyOf(deviceId), entry.value, this.options.leaseMs);
        } catch {
          return; // Redis is away: the next heartbeat marks the session again.
        }
        // Another node's session holds the key: the notice that this one was replaced was lost.
        if (held === 0 && this.entries.get(deviceId) === entry) this.ended(entry.session, 'replaced');
      }),
    );
  }

  private onBus(message: BusMessage): void {
    if (message.t !== 'evict') return;
    const entry = this.entries.get(message.device);
    if (entry?.session.sessionId === message.session) this.ended(entry.session, message.reason);
    if (message.by !== undefined && this.entries.get(message.device) === undefined) {
      this.remote.set(message.device, {
        record: {
          deviceId: message.device,
          node: message.by.node,
          sessionId: message.by.session,
          since: this.options.clock.now(),
        },
        until: this.options.clock.now() + this.options.leaseMs,
      });
    }
  }

  /** A session of this node ended by another node's doing: forgotten, reported, told to go. */
  private ended(session: PresenceSession, reason: Exclude<PresenceCloseReason, 'closed'>): void {
    this.entries.delete(session.deviceId);
    this.marked.delete(session.deviceId);
    this.tellClosed(session, reason);
    session.evict(reason);
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

/** The record in a device's key, or undefined when it is not one this code wrote. */
function decode(deviceId: string, held: string): PresenceRecord | undefined {
  try {
    const [node, sessionId, since] = JSON.parse(held) as unknown[];
    if (typeof node !== 'string' || typeof sessionId !== 'string' || typeof since !== 'number')
      return undefined;
    return { deviceId, node, sessionId, since };
  } catch {
    return undefined;
  }
}
