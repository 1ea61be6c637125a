/**
 * One device connection on the server: hello and authentication, heartbeats, pushes out, acks in,
 * a bounded write queue, and an orderly close. It talks to a FrameLink, never to a socket, so the same
 * code runs over TLS, WebSocket and in-memory pairs. States: docs/connection-states.md.
 */
import { randomUUID } from 'node:crypto';
import {
  CAPABILITIES,
  DEFAULT_HEARTBEAT,
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolErrorCode,
  SUPPORTED_VERSIONS,
  decodeClientMessage,
  encodeMessage,
  type Ack,
  type ApnsToken,
  type Clock,
  type ClientMessage,
  type Goaway,
  type Hello,
  type Notice,
  type Push,
  type ServerMessage,
  type TimerHandle,
} from '@localpush/protocol';
import type { FrameLink, LinkHandlers } from '@localpush/protocol/link';
import type { PresenceSession } from '../presence/types.js';

export const CONNECTION_STATES = ['awaiting_hello', 'authenticating', 'open', 'closing', 'closed'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** Tunables of every device connection. Defaults and their reasons: docs/protocol.md [LP-5]. */
export interface ConnectionOptions {
  heartbeatIntervalMs: number;
  heartbeatGraceMs: number;
  helloTimeoutMs: number;
  maxFrameBytes: number;
  /**
   * The hard bound on bytes queued for one connection: a write that finds more queued drops it as a slow
   * consumer. Pushes never reach it (they wait below writeHighWaterBytes); it bounds what the server
   * must answer whatever the device does (probe replies, notices). At least writeHighWaterBytes plus two
   * of the largest frames. [LP-7.2]
   */
  maxWriteQueueBytes: number;
  /** Above this many queued bytes the connection is not `writable`: pushes wait for its drain. [LP-7.2] */
  writeHighWaterBytes: number;
  /** How long a closing connection may take to flush before it is destroyed. */
  closeTimeoutMs: number;
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = {
  heartbeatIntervalMs: DEFAULT_HEARTBEAT.intervalMs,
  heartbeatGraceMs: DEFAULT_HEARTBEAT.graceMs,
  helloTimeoutMs: 10_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxWriteQueueBytes: 1024 * 1024,
  writeHighWaterBytes: 64 * 1024,
  closeTimeoutMs: 2_000,
};

/** Why a connection ended, for logs, metrics and the engine. */
export type CloseReason =
  | { kind: 'peer_closed'; error?: Error }
  | { kind: 'protocol_error'; code: ProtocolErrorCode }
  /** The device sent an `error` frame (its code, as sent): the server closes too. [LP-9.1] */
  | { kind: 'peer_error'; code: string }
  | { kind: 'goaway'; reason: Goaway['reason'] }
  | { kind: 'destroyed' };

/** What the gateway provides to each connection. */
export interface ConnectionHooks {
  /** Resolves true when the credential belongs to the device. */
  authenticate(connection: DeviceConnection, hello: Hello): Promise<boolean>;
  /** The hello was accepted; the connection is open. */
  opened(connection: DeviceConnection, hello: Hello): void;
  /** The device acknowledged pushes. Return false when the ack names a seq never sent. [LP-6.5] */
  ack(connection: DeviceConnection, ack: Ack): boolean;
  /** The device told its APNs token. [LP-6.9] */
  apnsToken(connection: DeviceConnection, token: ApnsToken): void;
  /** The outstanding heartbeat was acknowledged, `rttMs` after it was written. [LP-5.2] */
  heartbeatAcked(connection: DeviceConnection, rttMs: number): void;
  /** The connection closed; called once, for connections that were opened or not. */
  closed(connection: DeviceConnection, reason: CloseReason): void;
  /** The open connection's write queue drained: it can take pushes again (see `writable`). [LP-7.2] */
  writable(connection: DeviceConnection): void;
}

/** What every welcome of this server lists: it answers probes and honours diagnostic sessions. [LP-10.1] */
const SERVER_CAPABILITIES: readonly string[] = Object.freeze([CAPABILITIES.probe, CAPABILITIES.diagnostic]);

export class DeviceConnection implements PresenceSession {
  /**
   * What the link reports, handed on to the connection's private handlers. A class, not three closures in
   * an object literal: one small object per connection instead of three functions and their context. It
   * is declared inside DeviceConnection so that it may call the connection's private methods.
   */
  private static readonly LinkEvents = class implements LinkHandlers {
    constructor(private readonly connection: DeviceConnection) {}
    frame(payload: Uint8Array): void {
      this.connection.onFrame(payload);
    }
    protocolError(error: ProtocolError): void {
      this.connection.fail(error.code, error.message);
    }
    close(error?: Error): void {
      this.connection.onLinkClosed(error);
    }
    drain(): void {
      this.connection.onDrain();
    }
  };

  readonly sessionId = randomUUID();
  private _state: ConnectionState = 'awaiting_hello';
  private _deviceId = '';
  private helloTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private graceTimer: TimerHandle | undefined;
  private closeTimer: TimerHandle | undefined;
  private heartbeatSeq = 0;
  /** The seq of the heartbeat awaiting its ack, or 0 when none is outstanding. */
  private awaitedHeartbeat = 0;
  /** clock.now() when the outstanding heartbeat was written, for its round-trip time. */
  private heartbeatSentAt = 0;
  private _diagnostic = false;
  private closeReason: CloseReason | undefined;
  /** The peer's address, read when the connection fails: a closed socket no longer knows it. */
  private failedFrom: string | undefined;
  /** See `progress`. */
  private _progress = 0;
  /** See ConnectionOptions.maxWriteQueueBytes: never below the high-water mark plus two largest frames. */
  private readonly writeQueueBound: number;
  /** When the last heartbeat was acknowledged (or the session opened). */
  lastSeenAt: number;

  /**
   * `helloWithinMs`: what is left of the hello deadline, which a listener starts at accept (before the TLS
   * handshake or the WebSocket upgrade); the full `helloTimeoutMs` when the link was made some other way.
   */
  constructor(
    private readonly link: FrameLink,
    private readonly hooks: ConnectionHooks,
    private readonly clock: Clock,
    private readonly options: ConnectionOptions,
    helloWithinMs: number = options.helloTimeoutMs,
  ) {
    this.lastSeenAt = clock.now();
    this.writeQueueBound = Math.max(
      options.maxWriteQueueBytes,
      options.writeHighWaterBytes + 2 * options.maxFrameBytes,
    );
    link.start(new DeviceConnection.LinkEvents(this));
    // [LP-4.2] A peer that never says hello must not hold a socket forever. The deadline is absolute:
    // nothing the peer sends moves it, and it ends at the hello's authentication, not at its arrival.
    this.helloTimer = clock.setTimeout(() => {
      this.helloTimer = undefined;
      if (this._state === 'awaiting_hello' || this._state === 'authenticating') {
        this.fail(
          ProtocolErrorCode.HELLO_TIMEOUT,
          `no valid hello within ${options.helloTimeoutMs} ms of connecting [LP-4.2]`,
        );
      }
    }, helloWithinMs);
  }

  get state(): ConnectionState {
    return this._state;
  }

  get deviceId(): string {
    return this._deviceId;
  }

  get isOpen(): boolean {
    return this._state === 'open';
  }

  /** The hello asked for a diagnostic session: measured, never the device's session. [LP-10.3] */
  get diagnostic(): boolean {
    return this._diagnostic;
  }

  get remoteAddress(): string | undefined {
    return this.link.remoteAddress ?? this.failedFrom;
  }

  sendPush(push: Push): number {
    return this.write(push);
  }

  sendNotice(notice: Notice): void {
    this.write(notice);
  }

  /** Open, and its write queue below the high-water mark: a push written now goes out without waiting. */
  get writable(): boolean {
    return this._state === 'open' && this.link.bufferedBytes < this.options.writeHighWaterBytes;
  }

  /** Grows each time the device shows it reads: its write queue drained, or it answered a heartbeat. */
  get progress(): number {
    return this._progress;
  }

  /**
   * The engine cannot tell whether the device reads (its window is full and no ack comes): a heartbeat
   * now, unless one is outstanding, whose ack is progress. [LP-7.2]
   */
  checkReading(): void {
    if (this._state !== 'open' || this.awaitedHeartbeat !== 0) return;
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.sendHeartbeat();
  }

  /** The device made no progress for too long with pushes waiting: dropped at once. [LP-7.2] */
  dropSlowConsumer(): void {
    if (this._state === 'closing' || this._state === 'closed') return;
    this.closeReason ??= { kind: 'protocol_error', code: ProtocolErrorCode.SLOW_CONSUMER };
    this.destroy();
  }

  /** Asks the device to go away, then closes once the goaway is flushed. [LP-8.1] */
  goaway(reason: Goaway['reason'], extra: Omit<Goaway, 'type' | 'reason'> = {}): void {
    if (this._state === 'closing' || this._state === 'closed') return;
    this.write({ type: 'goaway', reason, ...extra });
    this.beginClose({ kind: 'goaway', reason });
  }

  /** The session directory ends this session: a newer one replaced it, or the device was removed. */
  evict(reason: 'replaced' | 'removed'): void {
    if (reason === 'replaced') {
      this.goaway('replaced', { message: 'a newer connection of this device replaced this one' });
    } else {
      this.fail(ProtocolErrorCode.AUTH_FAILED, 'this device was removed [LP-4.4]');
    }
  }

  /** Sends an error frame with a stable code, then closes. [LP-9.1] */
  fail(code: ProtocolErrorCode, message: string): void {
    if (this._state === 'closing' || this._state === 'closed') return;
    this.failedFrom = this.link.remoteAddress;
    this.write({ type: 'error', code, message });
    this.beginClose({ kind: 'protocol_error', code });
  }

  /** Drops the connection at once, without a farewell. */
  destroy(): void {
    this.closeReason ??= { kind: 'destroyed' };
    this.failedFrom ??= this.link.remoteAddress;
    this.stopTimers();
    this._state = 'closing';
    this.link.destroy();
  }

  /** Writes one message; the bytes queued, or 0 when the connection is closing or was just dropped. */
  private write(message: ServerMessage): number {
    if (this._state === 'closing' || this._state === 'closed') return 0;
    // [LP-7.2] The hard bound, checked before writing: whatever the device makes the server answer, its
    // queue cannot grow without bound, and the others never wait for it.
    if (this.link.bufferedBytes > this.writeQueueBound) {
      this.dropSlowConsumer();
      return 0;
    }
    const bytes = encodeMessage(message);
    this.link.send(bytes);
    return bytes.byteLength;
  }

  private onDrain(): void {
    this._progress += 1;
    if (this._state === 'open') this.hooks.writable(this);
  }

  private onFrame(payload: Uint8Array): void {
    if (this._state === 'closing' || this._state === 'closed') return;
    let message: ClientMessage;
    try {
      message = decodeClientMessage(payload);
    } catch (error) {
      if (error instanceof ProtocolError) this.fail(error.code, error.message);
      else this.fail(ProtocolErrorCode.INTERNAL, 'could not decode frame');
      return;
    }
    if (this._state === 'awaiting_hello') {
      if (message.type !== 'hello') {
        this.fail(ProtocolErrorCode.HELLO_REQUIRED, `expected hello, got "${message.type}" [LP-4.1]`);
        return;
      }
      this.onHello(message);
      return;
    }
    if (this._state === 'authenticating') {
      // [LP-4.1] Nothing but the hello may be in flight before the welcome.
      this.fail(ProtocolErrorCode.MESSAGE_UNEXPECTED, `"${message.type}" before welcome [LP-4.1]`);
      return;
    }
    switch (message.type) {
      case 'hello':
        this.fail(ProtocolErrorCode.MESSAGE_UNEXPECTED, 'a second hello on one connection [LP-4.1]');
        return;
      case 'heartbeat_ack':
        this.onHeartbeatAck(message.seq);
        return;
      case 'ack':
        if (!this.hooks.ack(this, message)) {
          this.fail(ProtocolErrorCode.ACK_INVALID, 'ack names a sequence number never sent [LP-6.5]');
        }
        return;
      case 'apns_token':
        this.hooks.apnsToken(this, message);
        return;
      case 'probe':
        // [LP-10.2] Answered at once, through the same bounded write path as pushes; nothing is kept.
        this.write(
          message.pad === undefined
            ? { type: 'probe_reply', id: message.id, serverTime: this.clock.now() }
            : { type: 'probe_reply', id: message.id, serverTime: this.clock.now(), pad: message.pad },
        );
        return;
      case 'error':
        // [LP-9.1] Every v1 error is fatal: the receiver closes too, without answering.
        this.beginClose({ kind: 'peer_error', code: message.code });
        return;
    }
  }

  private onHello(hello: Hello): void {
    if (!SUPPORTED_VERSIONS.includes(hello.version)) {
      this.fail(
        ProtocolErrorCode.VERSION_UNSUPPORTED,
        `protocol version ${hello.version} is not supported; this server speaks ${SUPPORTED_VERSIONS.join(', ')} [LP-4.3]`,
      );
      return;
    }
    this._state = 'authenticating';
    this._deviceId = hello.deviceId;
    this._diagnostic = hello.capabilities.includes(CAPABILITIES.diagnostic);
    this.hooks.authenticate(this, hello).then(
      (ok) => {
        if (this._state !== 'authenticating') return;
        if (!ok) {
          this.fail(ProtocolErrorCode.AUTH_FAILED, 'unknown device or wrong credential [LP-4.4]');
          return;
        }
        if (this.helloTimer !== undefined) this.clock.clearTimeout(this.helloTimer);
        this.helloTimer = undefined;
        this._state = 'open';
        this.lastSeenAt = this.clock.now();
        this.write({
          type: 'welcome',
          version: PROTOCOL_VERSION,
          sessionId: this.sessionId,
          heartbeatIntervalMs: this.options.heartbeatIntervalMs,
          heartbeatGraceMs: this.options.heartbeatGraceMs,
          serverTime: this.clock.now(),
          maxFrameBytes: this.options.maxFrameBytes,
          capabilities: SERVER_CAPABILITIES as string[],
        });
        this.scheduleHeartbeat();
        this.hooks.opened(this, hello);
      },
      () => {
        if (this._state === 'authenticating') {
          this.fail(ProtocolErrorCode.INTERNAL, 'authentication failed inside the server; try again later');
        }
      },
    );
  }

  /** [LP-5.1] The next heartbeat goes out one interval after the previous one was answered. */
  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.sendHeartbeat();
    }, this.options.heartbeatIntervalMs);
  }

  private sendHeartbeat(): void {
    if (this._state !== 'open') return;
    this.heartbeatSeq += 1;
    this.awaitedHeartbeat = this.heartbeatSeq;
    this.heartbeatSentAt = this.clock.now();
    this.write({ type: 'heartbeat', seq: this.heartbeatSeq, serverTime: this.heartbeatSentAt });
    // [LP-5.3] Dead-peer detection: no ack within the grace period closes the connection.
    this.graceTimer = this.clock.setTimeout(() => {
      this.graceTimer = undefined;
      this.fail(
        ProtocolErrorCode.HEARTBEAT_TIMEOUT,
        `heartbeat ${this.awaitedHeartbeat} not acknowledged within ${this.options.heartbeatGraceMs} ms [LP-5.3]`,
      );
    }, this.options.heartbeatGraceMs);
  }

  private onHeartbeatAck(seq: number): void {
    // [LP-5.2] Only the outstanding heartbeat counts; a stale or invented seq is ignored, not fatal,
    // because an ack may cross a heartbeat that the server had already given up on.
    if (seq !== this.awaitedHeartbeat || this.awaitedHeartbeat === 0) return;
    this.awaitedHeartbeat = 0;
    this._progress += 1;
    this.lastSeenAt = this.clock.now();
    if (this.graceTimer !== undefined) this.clock.clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.scheduleHeartbeat();
    this.hooks.heartbeatAcked(this, this.lastSeenAt - this.heartbeatSentAt);
  }

  private beginClose(reason: CloseReason): void {
    this.closeReason ??= reason;
    this.stopTimers();
    this._state = 'closing';
    this.link.end();
    this.closeTimer = this.clock.setTimeout(() => {
      this.closeTimer = undefined;
      this.link.destroy();
    }, this.options.closeTimeoutMs);
  }

  private stopTimers(): void {
    for (const timer of [this.helloTimer, this.heartbeatTimer, this.graceTimer]) {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
    this.helloTimer = this.heartbeatTimer = this.graceTimer = undefined;
  }

  private onLinkClosed(error?: Error): void {
    if (this._state === 'closed') return;
    this.stopTimers();
    if (this.closeTimer !== undefined) this.clock.clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this._state = 'closed';
    this.hooks.closed(
      this,
      this.closeReason ?? (error ? { kind: 'peer_closed', error } : { kind: 'peer_closed' }),
    );
  }
}
