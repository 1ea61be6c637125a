/**
 * The device gateway: accepts links from any transport, authenticates devices, registers each opened
 * session with the session directory (which decides that the newest one is authoritative and tells the
 * listeners), and hands the authoritative sessions' acks to the delivery engine.
 */
import { ProtocolErrorCode, type ApnsToken, type Clock, type Hello } from '@localpush/protocol';
import type { FrameLink } from '@localpush/protocol/link';
import type { SessionListener } from '../engine/types.js';
import { LocalSessionDirectory } from '../presence/local.js';
import type { PresenceSession, SessionDirectory } from '../presence/types.js';
import {
  Admission,
  DEFAULT_ADMISSION_LIMITS,
  type AdmissionLimits,
  type AdmissionMetrics,
  type AdmissionTicket,
} from './admission.js';
import {
  DEFAULT_CONNECTION_OPTIONS,
  DeviceConnection,
  type CloseReason,
  type ConnectionHooks,
  type ConnectionOptions,
} from './connection.js';

/** Minimal logger shape (pino satisfies it), so tests can pass a silent one. */
export interface GatewayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  /** When present and false for 'debug', debug records are not even built (pino has it). */
  isLevelEnabled?(level: 'debug'): boolean;
}

/** Counters the metrics endpoint exposes; the gateway only increments them. */
export interface GatewayMetrics extends AdmissionMetrics {
  connectionOpened(): void;
  connectionClosed(reason: CloseReason): void;
  sessionReplaced(): void;
  /** A hello named an unknown device or a wrong credential. */
  helloRefused(): void;
}

/**
 * Told about device sessions as they come and go (the per-device health view). Only authoritative
 * sessions are reported; diagnostic sessions never are. [LP-10.3]
 */
export interface SessionObserver {
  /** A device's session opened (possibly replacing an older one of the same device, LP-8.2). */
  opened(connection: DeviceConnection, hello: Hello): void;
  /** The device's authoritative session closed; the device is offline until its next session. */
  closed(connection: DeviceConnection, reason: CloseReason): void;
  /** The device acknowledged a heartbeat `rttMs` after it was written. */
  heartbeatRtt(connection: DeviceConnection, rttMs: number): void;
}

export interface GatewayOptions {
  /** Subscribed to the session directory for sessions; called by the gateway for acks. */
  listener: SessionListener;
  observer?: SessionObserver;
  /** Who is connected: the one owner of presence. Default: a fresh local directory. */
  presence?: SessionDirectory;
  authenticate: (deviceId: string, credential: string) => Promise<boolean>;
  clock: Clock;
  logger?: GatewayLogger;
  metrics?: GatewayMetrics;
  connection?: Partial<ConnectionOptions>;
  /** Caps and throttling of connections not yet authenticated; the deadline is `helloTimeoutMs`. */
  admission?: Partial<Omit<AdmissionLimits, 'deadlineMs'>>;
  /**
   * A device told its APNs token [LP-6.9]. Absent when the server has no APNs endpoint: the message is
   * then ignored, as the rule allows.
   */
  onApnsToken?: (deviceId: string, token: ApnsToken) => void;
}

export interface ShutdownOptions {
  /** Hint sent in the goaway: how long devices should wait before reconnecting. */
  reconnectAfterMs?: number;
  /** How long to wait for devices to close before dropping them. */
  drainTimeoutMs?: number;
}

const silentLogger: GatewayLogger = { info() {}, warn() {}, debug() {}, isLevelEnabled: () => false };

export class Gateway {
  readonly connectionOptions: ConnectionOptions;
  /**
   * Every listener's connections from accept to authentication: one deadline, the caps, the throttling of
   * failed hellos. Shared with SimplePush and the APNs endpoint, so the caps hold for the process.
   */
  readonly admission: Admission;
  /** The admission of each connection that has not authenticated yet. */
  private readonly tickets = new Map<DeviceConnection, AdmissionTicket>();
  /** Every link-level connection, authenticated or not. */
  private readonly connections = new Set<DeviceConnection>();
  /** The authoritative session of each device is the directory's to decide. [LP-8.2] */
  readonly presence: SessionDirectory;
  private readonly logger: GatewayLogger;
  private draining = false;
  private readonly idleWaiters = new Set<() => void>();

  /**
   * One set of hooks for every connection (each call names its connection), rather than five closures per
   * accepted socket: an idle connection should cost the gateway as little as possible.
   */
  private readonly hooks: ConnectionHooks = {
    authenticate: (c, hello) => this.authenticate(c, hello),
    opened: (c, hello) => this.onOpened(c, hello),
    ack: (c, ack) => {
      if (this.presence.local(c.deviceId) !== c) return true;
      return this.options.listener.ackReceived(c, ack);
    },
    apnsToken: (c, token) => {
      if (this.presence.local(c.deviceId) === c) this.options.onApnsToken?.(c.deviceId, token);
    },
    heartbeatAcked: (c, rttMs) => {
      if (this.presence.local(c.deviceId) !== c) return;
      this.presence.renew(c);
      this.options.observer?.heartbeatRtt(c, rttMs);
    },
    closed: (c, reason) => this.onClosed(c, reason),
    writable: (c) => {
      if (this.presence.local(c.deviceId) === c) this.options.listener.sessionWritable(c);
    },
  };

  constructor(private readonly options: GatewayOptions) {
    this.connectionOptions = { ...DEFAULT_CONNECTION_OPTIONS, ...options.connection };
    this.logger = options.logger ?? silentLogger;
    this.admission = new Admission({
      limits: {
        ...DEFAULT_ADMISSION_LIMITS,
        ...options.admission,
        deadlineMs: this.connectionOptions.helloTimeoutMs,
      },
      clock: options.clock,
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    });
    this.presence = options.presence ?? new LocalSessionDirectory({ clock: options.clock });
    this.presence.subscribe(options.listener);
    this.presence.subscribe({
      sessionOpened: () => {},
      sessionClosed: (session, reason) => {
        if (reason !== 'replaced' || !(session instanceof DeviceConnection)) return;
        this.options.metrics?.sessionReplaced();
        this.logger.info({ device: session.deviceId }, 'session replaced by a newer connection');
      },
    });
  }

  /** The injected clock, for the listeners' own deadlines (the TLS port's plaintext sniffing). */
  get clock(): Clock {
    return this.options.clock;
  }

  /** Number of open link-level connections, including those that have not said hello yet. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Number of devices with an authenticated session on this node. */
  get sessionCount(): number {
    return this.presence.size;
  }

  /** The directory's answer (kept for callers that hold only the gateway). */
  isOnline(deviceId: string): boolean {
    return this.presence.isOnline(deviceId);
  }

  /** The device's authoritative session on this node, if any. */
  session(deviceId: string): PresenceSession | undefined {
    return this.presence.local(deviceId);
  }

  /**
   * Takes ownership of a new link (one per accepted socket or WebSocket). `ticket`: the socket's admission
   * (see {@link Admission}); the connection then enforces what is left of its deadline and leaves the
   * unauthenticated count once welcomed.
   */
  accept(link: FrameLink, ticket?: AdmissionTicket): DeviceConnection {
    const connection = new DeviceConnection(
      link,
      this.hooks,
      this.options.clock,
      this.connectionOptions,
      ticket?.handOver(),
    );
    if (ticket !== undefined) this.tickets.set(connection, ticket);
    this.connections.add(connection);
    this.options.metrics?.connectionOpened();
    if (this.draining) {
      connection.fail(ProtocolErrorCode.SHUTTING_DOWN, 'the server is shutting down [LP-8.3]');
    }
    return connection;
  }

  /**
   * Graceful shutdown [LP-8.3]: every device gets a goaway with a reconnect hint, then the gateway waits
   * for the connections to close (devices close on goaway), and destroys what is left at the deadline.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.draining = true;
    const drainTimeoutMs = options.drainTimeoutMs ?? 5_000;
    for (const connection of this.connections) {
      if (connection.isOpen) {
        connection.goaway('shutdown', {
          message: 'server shutting down',
          reconnectAfterMs: options.reconnectAfterMs ?? 1_000,
        });
      } else {
        connection.fail(ProtocolErrorCode.SHUTTING_DOWN, 'the server is shutting down [LP-8.3]');
      }
    }
    if (this.connections.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = this.options.clock.setTimeout(() => {
        for (const connection of this.connections) connection.destroy();
        // destroy() closes asynchronously; resolve when the set is empty or right away if it already is.
        if (this.connections.size === 0) finish();
      }, drainTimeoutMs);
      const finish = (): void => {
        this.options.clock.clearTimeout(timer);
        this.idleWaiters.delete(finish);
        resolve();
      };
      this.idleWaiters.add(finish);
    });
  }

  /**
   * Checks a hello's credential — after a wait when its address has failed too often (the wait grows with
   * each failure; see {@link Admission}). A failure is logged with the address, read while the connection
   * is still open, and counted.
   */
  private async authenticate(connection: DeviceConnection, hello: Hello): Promise<boolean> {
    const remote = connection.remoteAddress;
    const delayMs = this.admission.delayMs(remote);
    if (delayMs > 0) {
      await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, delayMs));
      if (connection.state !== 'authenticating') return false;
    }
    const ok = await this.options.authenticate(hello.deviceId, hello.credential);
    if (!ok) {
      const failures = this.admission.recordFailure(remote);
      this.options.metrics?.helloRefused();
      this.logger.warn(
        { device: hello.deviceId, remote, failures, ...(delayMs > 0 ? { delayedMs: delayMs } : {}) },
        'hello refused: unknown device or wrong credential',
      );
    }
    return ok;
  }

  private onOpened(connection: DeviceConnection, hello: Hello): void {
    this.releaseTicket(connection);
    // [LP-10.3] A diagnostic session is welcomed and measured but never becomes the device's session.
    if (connection.diagnostic) return;
    // Reading the remote address makes Node cache it on the socket (an object and a string per idle
    // connection), so it is read only when the record will be written.
    if (this.logger.isLevelEnabled?.('debug') !== false) {
      this.logger.debug(
        { device: connection.deviceId, session: connection.sessionId, remote: connection.remoteAddress },
        'device connected',
      );
    }
    // The directory replaces an older session of the device (goaway) and tells the engine. [LP-8.2]
    void this.presence.open(connection, hello.resume?.lastSeq);
    this.options.observer?.opened(connection, hello);
  }

  private releaseTicket(connection: DeviceConnection): void {
    const ticket = this.tickets.get(connection);
    if (ticket === undefined) return;
    this.tickets.delete(connection);
    ticket.release();
  }

  private onClosed(connection: DeviceConnection, reason: CloseReason): void {
    const ticket = this.tickets.get(connection);
    if (
      ticket !== undefined &&
      reason.kind === 'protocol_error' &&
      reason.code === ProtocolErrorCode.HELLO_TIMEOUT
    ) {
      this.options.metrics?.deadlineExpired(ticket.listener);
    }
    this.releaseTicket(connection);
    this.connections.delete(connection);
    this.options.metrics?.connectionClosed(reason);
    if (connection.deviceId !== '' && this.presence.local(connection.deviceId) === connection) {
      void this.presence.release(connection);
      this.options.observer?.closed(connection, reason);
    }
    if (reason.kind === 'protocol_error' || reason.kind === 'peer_error') {
      this.logger.info(
        { device: connection.deviceId || undefined, code: reason.code, remote: connection.remoteAddress },
        reason.kind === 'protocol_error'
          ? 'connection closed on protocol error'
          : 'connection closed after the device sent an error frame',
      );
    }
    if (this.connections.size === 0) for (const waiter of [...this.idleWaiters]) waiter();
  }
}
