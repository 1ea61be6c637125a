/**
 * A SimplePush client in TypeScript, written from the protocol facts (docs/simplepush.md), for tests and
 * tools: it plays the sample's app (control channel) or provider extension (notification channel).
 * It registers, acknowledges every request, watches for heartbeats and reconnects as the sample does:
 * no heartbeat within its timeout (app 20 s, extension 30 s) → disconnect and reconnect at once; a
 * connection that cannot be made is retried after 5 s. Every timer goes through the injected Clock.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { systemClock, type Clock, type TimerHandle } from '@localpush/protocol';
import {
  SP_DEFAULT_MAX_FRAME_BYTES,
  SimplePushErrorCode,
  type SpCallActionKind,
  type SpMessage,
  type SpMessageType,
  type SpRouting,
  type SpUser,
} from './codec.js';
import { SpEndpoint, type SpCloseReason, type SpRequestOutcome, type SpStream } from './endpoint.js';

/** `app`: the control channel (port 5060); `extension`: the notification channel (port 3000). */
export type SimplePushRole = 'app' | 'extension';

export interface SimplePushTestClientOptions {
  role: SimplePushRole;
  user: SpUser;
  /** Opens one connection, resolved once bytes can flow (for TLS: handshake and pin check done). */
  connect: () => Promise<SpStream>;
  clock?: Clock;
  /** No heartbeat for this long → reconnect. Default: app 20 s, extension 30 s (the sample's values). */
  heartbeatTimeoutMs?: number;
  /** How long our own requests wait for an ack before the connection is dropped. Default 10 s. */
  ackTimeoutMs?: number;
  /** Delay before retrying a connection that could not be made. Default 5 s. */
  retryDelayMs?: number;
  /** Reconnect after a drop or a failed connect. Default true. */
  reconnect?: boolean;
  maxFrameBytes?: number;
  randomId?: () => number;
}

/** The events a client emits. */
export interface SimplePushTestClientEvents {
  /** The server acknowledged our registration on a new connection. */
  registered: [];
  /** Any request from the server (after it was acknowledged, when acknowledging is on). */
  message: [SpMessage];
  directory: [SpUser[]];
  text: [{ routing: SpRouting; message: string }];
  invite: [SpRouting];
  callAction: [{ action: SpCallActionKind; receiver?: SpUser }];
  heartbeat: [number];
  /** A connection ended; a reconnect follows unless the client is closed or `reconnect` is off. */
  disconnected: [SpCloseReason | 'heartbeat-timeout'];
  /** A connection could not be made; retried after `retryDelayMs`. */
  connectFailed: [Error];
}

/** The sample's app or extension, in TypeScript. */
export class SimplePushTestClient extends EventEmitter<SimplePushTestClientEvents> {
  readonly role: SimplePushRole;
  readonly user: SpUser;
  /**
   * Whether server requests are acknowledged. Turn off to play a device that stopped answering (a
   * suspended extension); requests are still received and reported.
   */
  acknowledge = true;
  /** The most recent directory received. */
  directoryUsers: SpUser[] = [];
  /** Requests received and not yet taken by {@link take}. */
  readonly inbox: SpMessage[] = [];
  /** Connections made so far (registered or not). */
  connections = 0;

  private readonly clock: Clock;
  private readonly heartbeatTimeoutMs: number;
  private readonly options: SimplePushTestClientOptions;
  private endpoint: SpEndpoint | undefined;
  private watchdog: TimerHandle | undefined;
  private retry: TimerHandle | undefined;
  private isRegistered = false;
  private closed = false;
  private started = false;
  private waiters: (() => void)[] = [];

  constructor(options: SimplePushTestClientOptions) {
    super();
    this.options = options;
    this.role = options.role;
    this.user = { uuid: options.user.uuid.toUpperCase(), deviceName: options.user.deviceName };
    this.clock = options.clock ?? systemClock;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? (options.role === 'app' ? 20_000 : 30_000);
  }

  /** True while a connection is up and its registration was acknowledged. */
  get registered(): boolean {
    return this.isRegistered;
  }

  /** Connects and registers. Call once. */
  start(): void {
    if (this.started) throw new Error('SimplePushTestClient.start() was already called');
    this.started = true;
    void this.open();
  }

  /** Closes the connection for good: no reconnect. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    this.endpoint?.close('local');
    this.wake();
  }

  /** Drops the current connection as if the network failed; the client reconnects (when allowed). */
  dropConnection(): void {
    this.endpoint?.close('local');
  }

  /** Sends a text to `to` (app role). */
  sendText(to: SpUser, message: string): Promise<SpRequestOutcome> {
    return this.send({ type: 'textMessage', routing: { sender: this.user, receiver: to }, message });
  }

  /** Sends an Invite to `to` (app role; the first half of placing a call). */
  invite(to: SpUser): Promise<SpRequestOutcome> {
    return this.send({ type: 'invite', routing: { sender: this.user, receiver: to } });
  }

  /** Sends a CallAction (app role). */
  callAction(action: SpCallActionKind, receiver?: SpUser): Promise<SpRequestOutcome> {
    return this.send(
      receiver === undefined ? { type: 'callAction', action } : { type: 'callAction', action, receiver },
    );
  }

  /** Places a call as the sample's app does: Invite, then CallAction(connect, receiver). */
  async call(to: SpUser): Promise<void> {
    await this.invite(to);
    await this.callAction('connect', to);
  }

  /** Sends any request on the current connection; `closed` when there is none. */
  send(message: SpMessage): Promise<SpRequestOutcome> {
    const endpoint = this.endpoint;
    if (!endpoint || endpoint.isClosed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      endpoint.request(message, (outcome) => {
        // The sample's session disconnects when a request of its own goes unacknowledged.
        if (outcome === 'timeout') endpoint.close(SimplePushErrorCode.ACK_TIMEOUT);
        resolve(outcome);
      });
    });
  }

  /**
   * A round trip to the server: resolves once the server acknowledged a request sent now, which means it
   * has read everything this client sent before (acks included) — what a test on a manual clock waits
   * for before advancing time. Sends a Heartbeat, which localpush's gateway acknowledges and ignores.
   */
  sync(): Promise<SpRequestOutcome> {
    return this.send({ type: 'heartbeat', count: 0 });
  }

  /** Removes and returns the first inbox message of `type` (matching `where`), waiting for one if needed. */
  async take<T extends SpMessageType>(
    type: T,
    where: (message: Extract<SpMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<SpMessage, { type: T }>> {
    let found: Extract<SpMessage, { type: T }> | undefined;
    await this.until(() => {
      const index = this.inbox.findIndex(
        (m) => m.type === type && where(m as Extract<SpMessage, { type: T }>),
      );
      if (index < 0) return false;
      found = this.inbox.splice(index, 1)[0] as Extract<SpMessage, { type: T }>;
      return true;
    });
    if (found === undefined) throw new Error(`client closed before a ${type} arrived`);
    return found;
  }

  /**
   * Resolves once `check()` is true, re-checking after every event of this client. Resolves (without
   * the condition) if the client is closed, so a test never hangs on a closed client.
   */
  async until(check: () => boolean): Promise<void> {
    while (!check()) {
      if (this.closed) return;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once the latest directory satisfies `check`. */
  untilDirectory(check: (users: SpUser[]) => boolean): Promise<void> {
    return this.until(() => check(this.directoryUsers));
  }

  // -------------------------------------------------------------------------------------------------------

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private stopTimers(): void {
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    if (this.retry !== undefined) this.clock.clearTimeout(this.retry);
    this.watchdog = undefined;
    this.retry = undefined;
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    let stream: SpStream;
    try {
      stream = await this.options.connect();
    } catch (error) {
      this.emit('connectFailed', error instanceof Error ? error : new Error(String(error)));
      this.wake();
      // Like a connection in the "waiting" state in the sample: tried again after a pause.
      if (!this.closed && this.options.reconnect !== false) {
        this.retry = this.clock.setTimeout(() => {
          this.retry = undefined;
          void this.open();
        }, this.options.retryDelayMs ?? 5_000);
      }
      return;
    }
    if (this.closed) {
      stream.destroy();
      return;
    }
    this.connections += 1;
    const endpoint = new SpEndpoint(stream, {
      clock: this.clock,
      ackTimeoutMs: this.options.ackTimeoutMs ?? 10_000,
      maxFrameBytes: this.options.maxFrameBytes ?? SP_DEFAULT_MAX_FRAME_BYTES,
      acknowledge: () => this.acknowledge,
      ...(this.options.randomId ? { randomId: this.options.randomId } : {}),
    });
    this.endpoint = endpoint;
    endpoint.start({
      request: (message) => this.receive(message),
      close: (reason) => this.onClose(endpoint, reason),
    });
    this.armWatchdog();
    endpoint.request({ type: 'user', user: this.user }, (outcome) => {
      if (outcome === 'acknowledged' && this.endpoint === endpoint) {
        this.isRegistered = true;
        this.emit('registered');
        this.wake();
      } else if (outcome === 'timeout') {
        endpoint.close(SimplePushErrorCode.ACK_TIMEOUT);
      }
    });
  }

  private armWatchdog(): void {
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = undefined;
      const endpoint = this.endpoint;
      if (!endpoint) return;
      this.emit('disconnected', 'heartbeat-timeout');
      this.endpoint = undefined;
      this.isRegistered = false;
      endpoint.close('local');
      this.wake();
      this.reconnect();
    }, this.heartbeatTimeoutMs);
  }

  private onClose(endpoint: SpEndpoint, reason: SpCloseReason): void {
    // A connection the watchdog already replaced reports nothing more.
    if (this.endpoint !== endpoint) return;
    this.endpoint = undefined;
    this.isRegistered = false;
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.emit('disconnected', reason);
    this.wake();
    this.reconnect();
  }

  private reconnect(): void {
    // The sample replaces a failed connection at once, without back-off.
    if (!this.closed && this.options.reconnect !== false) void this.open();
  }

  private receive(message: SpMessage): void {
    this.inbox.push(message);
    this.emit('message', message);
    switch (message.type) {
      case 'heartbeat':
        this.armWatchdog();
        this.emit('heartbeat', message.count);
        break;
      case 'directory':
        this.directoryUsers = message.users;
        this.emit('directory', message.users);
        break;
      case 'textMessage':
        this.emit('text', { routing: message.routing, message: message.message });
        break;
      case 'invite':
        this.emit('invite', message.routing);
        break;
      case 'callAction':
        this.emit(
          'callAction',
          message.receiver === undefined
            ? { action: message.action }
            : { action: message.action, receiver: message.receiver },
        );
        break;
      case 'user':
        break;
    }
    this.wake();
  }
}

export interface ConnectSimplePushOptions {
  host: string;
  port: number;
  /** The expected {@link spkiPinBase64} of the server certificate; unchecked when absent. */
  pin?: string;
  /** SNI name to send; the sample's clients check no name, so any works. */
  servername?: string;
}

/**
 * Opens a TLS connection the way the sample's clients do: no chain, hostname or expiry check — only
 * the SPKI pin, when given. Resolves after the handshake and pin check; rejects on mismatch.
 */
export function connectSimplePush(options: ConnectSimplePushOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      rejectUnauthorized: false,
      ...(options.servername !== undefined ? { servername: options.servername } : {}),
    });
    socket.setNoDelay(true);
    const onError = (error: Error): void => reject(error);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      if (options.pin !== undefined) {
        const cert = socket.getPeerX509Certificate();
        const spki = cert?.publicKey.export({ type: 'spki', format: 'der' });
        const pin = spki ? createHash('sha256').update(spki).digest('base64') : undefined;
        if (pin !== options.pin) {
          socket.destroy();
          reject(new Error(`server public key pin ${pin ?? '(none)'} does not match ${options.pin}`));
          return;
        }
      }
      resolve(socket);
    });
  });
}
