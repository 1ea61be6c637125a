/**
 * Admission of connections that have not authenticated yet, for every listener of the server: the device
 * listeners (TLS, TCP, ws, wss), SimplePush and the APNs endpoint share one {@link Admission}.
 *
 * - **One absolute deadline** from accept to a valid hello (a SimplePush registration; the APNs endpoint's
 *   TLS handshake). It is set once, on the injected clock, when the socket is accepted, and nothing the peer
 *   sends moves it: a peer that trickles a ClientHello, upgrade headers or a hello one byte at a time is
 *   closed at the same instant as one that sends nothing. [LP-4.2]
 * - **Caps** on such connections in total and per remote address (IPv6 by /64), so half-open sockets cannot
 *   take the process's file descriptors. At a cap, the oldest pending connection of that scope is dropped
 *   when it has already used a quarter of its deadline (a handshake that slow is most likely a slow attack,
 *   and a fresh device then still gets in); otherwise the new connection is refused, so handshakes already
 *   under way finish.
 * - **Throttling of failed hellos** per address: after `failuresBeforeDelay` failures, every hello from the
 *   address waits before its credential is checked, twice as long after each further failure (capped at half
 *   the deadline, so a device that shares the address still gets in). An address's failures are forgotten
 *   ten minutes after its last one.
 */
import { isIPv4, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '@localpush/protocol';

/** Which listener accepted a connection, for metrics and logs. */
export const ADMISSION_LISTENERS = ['tls', 'tcp', 'ws', 'simplepush', 'apns'] as const;
export type AdmissionListener = (typeof ADMISSION_LISTENERS)[number];

/** The limits; defaults and their reasons: docs/protocol.md [LP-4.2], docs/operating.md. */
export interface AdmissionLimits {
  /** From accept to authenticated, in ms. */
  deadlineMs: number;
  /** Unauthenticated connections over every listener together. */
  maxPending: number;
  /** Unauthenticated connections from one address (one /64 for IPv6). */
  maxPendingPerAddress: number;
  /** Failed hellos from one address before its hellos are delayed; 0 = never delay. */
  failuresBeforeDelay: number;
}

export const DEFAULT_ADMISSION_LIMITS: Omit<AdmissionLimits, 'deadlineMs'> = {
  // As many as the kernel's accept queue holds (ACCEPT_BACKLOG): 4,096 sockets are far from the 65,536
  // descriptors of the shipped unit, and a reconnect storm's handshakes are milliseconds each.
  maxPending: 4096,
  maxPendingPerAddress: 256,
  failuresBeforeDelay: 10,
};

/** Counters the metrics endpoint exposes; Admission only increments them. */
export interface AdmissionMetrics {
  /** A new connection was refused at a cap. */
  unauthenticatedRefused(scope: 'total' | 'address'): void;
  /** A stale pending connection was dropped to make room at a cap. */
  unauthenticatedEvicted(scope: 'total' | 'address'): void;
  /** A connection reached its deadline before authenticating. */
  deadlineExpired(listener: AdmissionListener): void;
}

/** What Admission needs of a socket: a raw net.Socket, or the TLS socket over it. */
export interface AdmittedSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localPort?: number | undefined;
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

export interface AdmissionOptions {
  limits: AdmissionLimits;
  clock: Clock;
  metrics?: AdmissionMetrics;
}

/** A scope's slow connections give way after this share of the deadline. */
const EVICTABLE_AFTER_SHARE = 0.25;
/** The first throttled hello waits this long; each further failure doubles it. */
const THROTTLE_BASE_MS = 250;
/** An address's failed hellos are forgotten this long after its last one. */
const FAILURE_MEMORY_MS = 10 * 60_000;
/** Addresses whose failures are remembered at once; beyond it the least recent is forgotten. */
const MAX_REMEMBERED_ADDRESSES = 10_000;

/** One accepted connection that has not authenticated yet. */
export class AdmissionTicket {
  private timer: TimerHandle | undefined;
  private released = false;
  /** What happens at the deadline: the socket is destroyed, unless its owner took the deadline over. */
  private expire: () => void;

  constructor(
    private readonly admission: Admission,
    readonly socket: AdmittedSocket,
    readonly address: string,
    readonly group: string,
    readonly listener: AdmissionListener,
    readonly admittedAt: number,
    readonly deadlineAt: number,
  ) {
    this.expire = () => this.socket.destroy();
    this.timer = admission.clock.setTimeout(() => this.onDeadline(), deadlineAt - admittedAt);
    socket.once('close', this.onClose);
  }

  /** Milliseconds left until the deadline (0 when it has passed). */
  remainingMs(): number {
    return Math.max(0, this.deadlineAt - this.admission.clock.now());
  }

  /**
   * The owner can now close with a reason (an error frame) and enforces the same deadline itself: the
   * ticket keeps counting against the caps but no longer destroys the socket. Returns the time left.
   */
  handOver(): number {
    if (this.timer !== undefined) this.admission.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.expire = () => {};
    return this.remainingMs();
  }

  /** Authenticated, or closed: the connection no longer counts as pending. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer !== undefined) this.admission.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.off('close', this.onClose);
    this.admission.forget(this);
  }

  /** Dropped to make room at a cap. */
  evict(): void {
    this.release();
    this.socket.destroy();
  }

  private readonly onClose = (): void => this.release();

  private onDeadline(): void {
    this.timer = undefined;
    if (this.released) return;
    this.admission.expired(this);
    const expire = this.expire;
    this.release();
    expire();
  }
}

export class Admission {
  readonly clock: Clock;
  readonly limits: AdmissionLimits;
  private readonly metrics: AdmissionMetrics | undefined;
  /** Every pending ticket, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<AdmissionTicket>();
  private readonly byGroup = new Map<string, Set<AdmissionTicket>>();
  /** The pending ticket of each socket, by its endpoints, so the TLS socket over it can find it. */
  private readonly byEndpoints = new Map<string, AdmissionTicket>();
  private readonly failures = new Map<string, { count: number; lastAt: number }>();

  constructor(options: AdmissionOptions) {
    this.clock = options.clock;
    this.limits = options.limits;
    this.metrics = options.metrics;
  }

  /** Connections accepted and not yet authenticated. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Admits a just-accepted socket, starting its deadline, or destroys it when a cap leaves no room.
   * Returns the ticket, or undefined when the socket was refused.
   */
  admit(socket: AdmittedSocket, listener: AdmissionListener): AdmissionTicket | undefined {
    const address = socket.remoteAddress ?? '';
    const group = addressGroup(address);
    const inGroup = this.byGroup.get(group);
    if (
      !this.makeRoom(inGroup, this.limits.maxPendingPerAddress, 'address') ||
      !this.makeRoom(this.pending, this.limits.maxPending, 'total')
    ) {
      socket.destroy();
      return undefined;
    }
    const now = this.clock.now();
    const ticket = new AdmissionTicket(
      this,
      socket,
      address,
      group,
      listener,
      now,
      now + this.limits.deadlineMs,
    );
    this.pending.add(ticket);
    let set = this.byGroup.get(group);
    if (set === undefined) {
      set = new Set();
      this.byGroup.set(group, set);
    }
    set.add(ticket);
    this.byEndpoints.set(endpointsKey(socket), ticket);
    return ticket;
  }

  /** Admits every connection `server` accepts. */
  guard(server: NetServer, listener: AdmissionListener): void {
    server.on('connection', (socket: Socket) => {
      this.admit(socket, listener);
    });
  }

  /** The pending ticket of a socket (or of the raw socket under a TLS socket), if any. */
  ticketOf(
    socket: Pick<AdmittedSocket, 'remoteAddress' | 'remotePort' | 'localPort'>,
  ): AdmissionTicket | undefined {
    return this.byEndpoints.get(endpointsKey(socket));
  }

  /** How long a hello from `address` waits before its credential is checked (0 when not throttled). */
  delayMs(address: string | undefined): number {
    const threshold = this.limits.failuresBeforeDelay;
    if (threshold === 0) return 0;
    const entry = this.failures.get(addressGroup(address ?? ''));
    if (entry === undefined) return 0;
    if (this.clock.now() - entry.lastAt > FAILURE_MEMORY_MS) {
      this.failures.delete(addressGroup(address ?? ''));
      return 0;
    }
    if (entry.count < threshold) return 0;
    const doublings = Math.min(entry.count - threshold, 20);
    return Math.min(THROTTLE_BASE_MS * 2 ** doublings, Math.floor(this.limits.deadlineMs / 2));
  }

  /** A hello from `address` failed authentication. Returns the address's failures so far. */
  recordFailure(address: string | undefined): number {
    const group = addressGroup(address ?? '');
    const now = this.clock.now();
    const entry = this.failures.get(group);
    const count = entry !== undefined && now - entry.lastAt <= FAILURE_MEMORY_MS ? entry.count + 1 : 1;
    // Deleted and set again: the map stays in least-recent-first order for the bound below.
    this.failures.delete(group);
    this.failures.set(group, { count, lastAt: now });
    if (this.failures.size > MAX_REMEMBERED_ADDRESSES) {
      const oldest = this.failures.keys().next();
      if (oldest.done !== true) this.failures.delete(oldest.value);
    }
    return count;
  }

  /** Called by a ticket that leaves the pending set. */
  forget(ticket: AdmissionTicket): void {
    this.pending.delete(ticket);
    const set = this.byGroup.get(ticket.group);
    set?.delete(ticket);
    if (set?.size === 0) this.byGroup.delete(ticket.group);
    const key = endpointsKey(ticket.socket);
    if (this.byEndpoints.get(key) === ticket) this.byEndpoints.delete(key);
  }

  /** Called by a ticket whose deadline passed. */
  expired(ticket: AdmissionTicket): void {
    this.metrics?.deadlineExpired(ticket.listener);
  }

  /** True when `scope` has room for one more, after dropping its oldest if that one is stale. */
  private makeRoom(scope: Set<AdmissionTicket> | undefined, cap: number, kind: 'total' | 'address'): boolean {
    if (scope === undefined || scope.size < cap) return true;
    const oldest = scope.values().next();
    const staleAfter = this.limits.deadlineMs * EVICTABLE_AFTER_SHARE;
    if (oldest.done !== true && this.clock.now() - oldest.value.admittedAt >= staleAfter) {
      oldest.value.evict();
      this.metrics?.unauthenticatedEvicted(kind);
      return true;
    }
    this.metrics?.unauthenticatedRefused(kind);
    return false;
  }
}

/** The key of a TCP connection on this host: the same for a raw socket and the TLS socket over it. */
function endpointsKey(socket: Pick<AdmittedSocket, 'remoteAddress' | 'remotePort' | 'localPort'>): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}|${socket.localPort ?? 0}`;
}

/**
 * The unit of the per-address cap and the throttling: an IPv4 address (IPv4-mapped IPv6 included), or the
 * /64 of an IPv6 address — one subscriber's share, which an attacker can fill with addresses at will.
 */
export function addressGroup(address: string): string {
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::', 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const parts = address.includes('::')
    ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts]
    : headParts;
  return `${parts
    .slice(0, 4)
    .map((p) => p.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':')}::/64`;
}
