/**
 * DeviceClient: the device's side of a localpush connection. It keeps one connection to the push server
 * up (connect, hello, welcome), answers heartbeats, hands pushes to the app and acknowledges them once
 * the app has them, and reconnects with jittered back-off when anything goes wrong. It models the
 * transport half of an iOS NEAppPushProvider, so it depends on nothing but node: built-ins and the
 * protocol package. Every timer goes through the injected Clock.
 */
import { EventEmitter } from 'node:events';
import {
  APNS_TOKEN_PATTERN,
  APNS_TOPIC_PATTERN,
  DEFAULT_APNS_ENVIRONMENT,
  DEFAULT_MAX_FRAME_BYTES,
  DEVICE_ID_PATTERN,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolErrorCode,
  checkMaxFrameBytes,
  decodeServerMessage,
  encodeMessage,
  systemClock,
  type ApnsToken,
  type ClientMessage,
  type Clock,
  type Goaway,
  type Hello,
  type Push,
  type ServerMessage,
  type TimerHandle,
  type Welcome,
} from '@localpush/protocol';
import type { FrameLink } from '@localpush/protocol/link';
import { Backoff } from './backoff.js';
import { DeliveryTracker } from './delivery.js';
import { ClientError, ClientErrorCode } from './errors.js';
import {
  ASSUMED_HEARTBEAT,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type DeviceClientEvents,
  type DeviceClientOptions,
} from './options.js';
import { newAttempt, takeAcks, type Attempt } from './attempt.js';
import { EndpointRotation, parseEndpoints, type Target } from './endpoints.js';
import { LivenessWatchdog } from './liveness.js';
import { decodePins } from './pinning.js';
import type { ClientState, StopReason } from './states.js';
import {
  checkWebSocketSupport,
  openTransport,
  redirectTarget,
  type ServerUrl,
  type TransportResult,
  type WebSocketConstructor,
} from './transports.js';

/**
 * How long `stop()` lets a graceful close flush before destroying the transport, and the bound on
 * `stop()` itself: a WHATWG WebSocket cannot be torn down at once and waits for a close handshake that a
 * dead link never completes, so past this the attempt is abandoned rather than awaited.
 */
const CLOSE_TIMEOUT_MS = 2_000;

/** The connection half of the client SDK. See {@link DeviceClientEvents} for what it emits. */
export class DeviceClient extends EventEmitter<DeviceClientEvents> {
  private readonly options: DeviceClientOptions;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly delivery: DeliveryTracker;
  private readonly pins: Buffer[];
  private readonly webSocket: WebSocketConstructor | undefined;
  private readonly connectTimeoutMs: number;
  /** Which endpoint (and address) the next attempt dials. */
  private readonly rotation: EndpointRotation;
  private _state: ClientState = 'idle';
  private current: Attempt | undefined;
  private retryTimer: TimerHandle | undefined;
  /** A failover to the next endpoint, due at once: deferred to the next turn, not a timer. */
  private retryImmediate: NodeJS.Immediate | undefined;
  private userStopped = false;
  private _sessionId: string | undefined;
  /** APNs tokens to tell every session about, by token. [LP-6.9] */
  private readonly apnsTokens = new Map<string, ApnsToken>();
  private _lastHeartbeatAt: number | undefined;
  /** When the client last left `connected` (or started); drives staleness while disconnected. */
  private notConnectedSince: number | undefined;
  private heartbeat: { intervalMs: number; graceMs: number } = { ...ASSUMED_HEARTBEAT };
  /** Pushes are handed to the app one at a time, in arrival order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(options: DeviceClientOptions) {
    super();
    // Fail at construction, not as an endless series of rejected hellos. [LP-4.4]
    if (!DEVICE_ID_PATTERN.test(options.deviceId)) {
      throw new RangeError(`deviceId "${options.deviceId}" must match ${String(DEVICE_ID_PATTERN)}`);
    }
    this.options = options;
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.backoff = new Backoff(options.backoff, random);
    this.delivery = new DeliveryTracker(options.dedupeWindow, options.resumeFrom);
    this.pins = decodePins(options.pin);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(this.connectTimeoutMs > 0)) {
      throw new RangeError(`connectTimeoutMs must be positive, got ${this.connectTimeoutMs}`);
    }
    // Checked here: the frame decoder would otherwise throw inside a reconnect timer.
    if (options.maxFrameBytes !== undefined) checkMaxFrameBytes(options.maxFrameBytes);
    const endpoints = parseEndpoints(options.url, options.urls);
    this.webSocket = options.webSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    for (const url of endpoints) this.checkTransport(url);
    this.rotation = new EndpointRotation(endpoints, random, options.lookup);
  }

  /** The current state. */
  get state(): ClientState {
    return this._state;
  }

  /** The session id from the last welcome. */
  get sessionId(): string | undefined {
    return this._sessionId;
  }

  /** clock.now() of the last heartbeat (or welcome) received. */
  get lastHeartbeatAt(): number | undefined {
    return this._lastHeartbeatAt;
  }

  /** The highest seq such that it and every push received before it were processed (the resume cursor). */
  get lastSeq(): number | undefined {
    return this.delivery.lastSeq;
  }

  /** The URL the next (or current) connection goes to: it changes on failover and after a redirect. */
  get currentUrl(): string {
    return this.rotation.current.href;
  }

  /** Starts connecting. Does nothing unless the client is `idle` or `stopped`. */
  start(): void {
    if (this._state !== 'idle' && this._state !== 'stopped') return;
    this.userStopped = false;
    // Staleness counts from this start, not from a disconnect before an earlier stop().
    this.notConnectedSince = this.clock.now();
    this.connect();
  }

  /** Closes the connection for good (no reconnect); resolves once the transport is closed. */
  async stop(): Promise<void> {
    this.userStopped = true;
    this.clearRetry();
    const attempt = this.current;
    if (attempt !== undefined && !attempt.ended) {
      const closed = this.whenClosed(attempt);
      this.finish(attempt, { kind: 'stop', reason: { kind: 'user' }, graceful: true });
      await closed;
      return;
    }
    if (this._state !== 'stopped') this.enterStopped({ kind: 'user' });
  }

  /**
   * Tells the server this device's APNs token for one app, so that pushes an application server sends to
   * that token through the server's APNs-compatible endpoint come over this connection (and through APNs
   * only when it is not viable). Sent now when connected, and again after every welcome. [LP-6.9]
   */
  registerApnsToken(registration: {
    token: string;
    topic: string;
    environment?: ApnsToken['environment'];
  }): void {
    if (!APNS_TOKEN_PATTERN.test(registration.token)) {
      throw new RangeError('an APNs token is an even number (2–400) of hex digits');
    }
    if (!APNS_TOPIC_PATTERN.test(registration.topic)) {
      throw new RangeError(`"${registration.topic}" is not a bundle id or APNs topic`);
    }
    const message: ApnsToken = {
      type: 'apns_token',
      token: registration.token.toLowerCase(),
      topic: registration.topic,
      environment: registration.environment ?? DEFAULT_APNS_ENVIRONMENT,
    };
    this.apnsTokens.set(message.token, message);
    const attempt = this.current;
    if (this._state === 'connected' && attempt !== undefined && !attempt.ended) this.send(attempt, message);
  }

  /**
   * Drops the current connection at once and connects again, skipping any back-off wait. What the SDK's
   * periodic timer calls when {@link isStale} says the connection is dead. No effect after `stop()`.
   */
  reconnect(): void {
    if (this.userStopped) return;
    this.clearRetry();
    const attempt = this.current;
    if (attempt !== undefined && !attempt.ended) {
      this.finish(attempt, { kind: 'silent' });
      // The host judged this node dead: try the next endpoint (there is no waiting either way).
      this.rotation.failed();
    }
    this.connect();
  }

  /**
   * True when the connection should be considered dead: connected but nothing heard for
   * 2 × heartbeatInterval + grace, or not connected for that long. Never true after `stop()`.
   */
  isStale(now: number = this.clock.now()): boolean {
    const limit = 2 * this.heartbeat.intervalMs + this.heartbeat.graceMs;
    if (this._state === 'idle' || this.userStopped) return false;
    if (this._state === 'connected') return now - (this._lastHeartbeatAt ?? now) > limit;
    return this.notConnectedSince !== undefined && now - this.notConnectedSince > limit;
  }

  private checkTransport(url: ServerUrl): void {
    checkWebSocketSupport(url, this.webSocket, this.pins.length > 0 || this.options.ca !== undefined);
  }

  private setState(next: ClientState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    if (previous === 'connected') this.notConnectedSince = this.clock.now();
    this.emit('state', next, previous);
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.retryImmediate !== undefined) clearImmediate(this.retryImmediate);
    this.retryImmediate = undefined;
  }

  private connect(): void {
    this.notConnectedSince ??= this.clock.now();
    const attempt = newAttempt(this.rotation.current);
    this.current = attempt;
    this.setState('connecting');
    if (this.current !== attempt) return; // a state listener moved on
    // The deadline covers resolving the name too.
    this.armDeadline(
      attempt,
      ClientErrorCode.CONNECT_TIMEOUT,
      `no connection to ${attempt.url.href} within ${this.connectTimeoutMs} ms`,
    );
    this.rotation.target().then(
      (target) => {
        if (!attempt.ended) this.open(attempt, target);
      },
      (error: unknown) => {
        if (error instanceof ClientError) this.fail(attempt, error);
        else throw error;
      },
    );
  }

  private open(attempt: Attempt, target: Target): void {
    const transport = openTransport(
      target.url,
      {
        address: target.address,
        pins: this.pins,
        ca: this.options.ca,
        servername: this.options.servername,
        webSocket: this.webSocket,
        maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      },
      (result) => this.onTransport(attempt, result),
    );
    // A transport that failed synchronously has already ended the attempt.
    if (attempt.ended) transport.cancel();
    else attempt.transport = transport;
  }

  private onTransport(attempt: Attempt, result: TransportResult): void {
    attempt.transport = undefined;
    if ('error' in result) {
      attempt.linkClosed = true;
      this.fail(attempt, result.error);
      return;
    }
    const link = result.link;
    if (attempt.ended) {
      link.destroy();
      return;
    }
    attempt.link = link;
    link.start({
      frame: (payload) => this.onFrame(attempt, payload),
      protocolError: (error) => this.protocolFailure(attempt, error),
      close: (error) => this.onLinkClosed(attempt, error),
    });
    this.clearAttemptTimer(attempt);
    const hello: Hello = {
      type: 'hello',
      version: PROTOCOL_VERSION,
      deviceId: this.options.deviceId,
      credential: this.options.credential,
      capabilities: this.options.capabilities ?? [],
    };
    const lastSeq = this.delivery.lastSeq;
    if (lastSeq !== undefined) hello.resume = { lastSeq };
    if (this.options.agent !== undefined) hello.agent = this.options.agent;
    // [LP-10.4] Only when the application asked for it: an SSID and BSSID say where the device is.
    const network = this.options.reportNetwork?.();
    if (network !== undefined) hello.network = network;
    this.send(attempt, hello);
    this.setState('handshaking');
    if (this.current !== attempt || attempt.ended) return;
    this.armDeadline(
      attempt,
      ClientErrorCode.WELCOME_TIMEOUT,
      `no welcome within ${this.connectTimeoutMs} ms [LP-4.6]`,
    );
  }

  /** The attempt's absolute deadline for its current wait (transport, then welcome): bytes never reset it. */
  private armDeadline(attempt: Attempt, code: ClientErrorCode, text: string): void {
    attempt.timer = this.clock.setTimeout(() => {
      attempt.timer = undefined;
      this.fail(attempt, new ClientError(code, text));
    }, this.connectTimeoutMs);
  }

  private send(attempt: Attempt, message: ClientMessage): void {
    if (attempt.link === undefined || attempt.linkClosed) return;
    attempt.link.send(encodeMessage(message));
  }

  private clearAttemptTimer(attempt: Attempt): void {
    if (attempt.timer !== undefined) this.clock.clearTimeout(attempt.timer);
    attempt.timer = undefined;
  }

  private onFrame(attempt: Attempt, payload: Uint8Array): void {
    if (attempt.ended) return;
    attempt.watchdog?.heard();
    let message: ServerMessage;
    try {
      message = decodeServerMessage(payload);
    } catch (error) {
      if (error instanceof ProtocolError) this.protocolFailure(attempt, error);
      else throw error;
      return;
    }
    if (message.type === 'error') return this.onServerError(attempt, message.code, message.message);
    if (message.type === 'goaway') return this.onGoaway(attempt, message);
    if (this._state === 'handshaking' && this.current === attempt) {
      if (message.type === 'welcome') return this.onWelcome(attempt, message);
      return this.unexpected(attempt, `"${message.type}" before welcome [LP-4.1]`);
    }
    switch (message.type) {
      case 'welcome':
        return this.unexpected(attempt, 'a second welcome [LP-4.6]');
      case 'heartbeat':
        // [LP-5.2] Answered at once, not batched: the server's grace timer is running.
        this.send(attempt, { type: 'heartbeat_ack', seq: message.seq });
        this._lastHeartbeatAt = this.clock.now();
        this.backoff.reset();
        this.emit('heartbeat', message);
        return;
      case 'push':
        return this.onPushFrame(attempt, message);
      case 'notice':
        this.emit('notice', message);
        return;
      case 'probe_reply':
        // [LP-10.2] This client sends no probes (the doctor does); a reply it did not ask for is ignored.
        return;
    }
  }

  private unexpected(attempt: Attempt, text: string): void {
    this.protocolFailure(attempt, new ProtocolError(ProtocolErrorCode.MESSAGE_UNEXPECTED, text));
  }

  /** The server broke the protocol: tell it why (it may log it), then drop and retry. [LP-9.1] */
  private protocolFailure(attempt: Attempt, error: ProtocolError): void {
    if (attempt.ended) return;
    this.send(attempt, { type: 'error', code: error.code, message: error.message });
    attempt.link?.end();
    this.fail(
      attempt,
      new ClientError(error.code, `server sent a bad frame: ${error.message}`, { cause: error }),
      {
        keepLink: true,
      },
    );
  }

  private onWelcome(attempt: Attempt, welcome: Welcome): void {
    this.clearAttemptTimer(attempt);
    this._sessionId = welcome.sessionId;
    this.heartbeat = { intervalMs: welcome.heartbeatIntervalMs, graceMs: welcome.heartbeatGraceMs };
    this._lastHeartbeatAt = this.clock.now();
    this.notConnectedSince = undefined;
    this.rotation.connected();
    // A connection that stays up for one interval proves the server is healthy; then failures start
    // from the smallest window again. (A heartbeat proves it sooner, see onFrame.)
    attempt.healthyTimer = this.clock.setTimeout(() => {
      attempt.healthyTimer = undefined;
      if (this.current === attempt && !attempt.ended) this.backoff.reset();
    }, welcome.heartbeatIntervalMs);
    if (this.options.liveness !== false) this.watch(attempt, welcome);
    this.setState('connected');
    if (this.current !== attempt || attempt.ended) return;
    for (const token of this.apnsTokens.values()) this.send(attempt, token);
    this.emit('connected', welcome);
  }

  /** Arms the dead-server deadline of a session that just opened. [LP-5.6] */
  private watch(attempt: Attempt, welcome: Welcome): void {
    const { heartbeatIntervalMs: interval, heartbeatGraceMs: grace } = welcome;
    attempt.watchdog = new LivenessWatchdog(this.clock, interval + grace, (silentMs) =>
      this.fail(
        attempt,
        new ClientError(
          ClientErrorCode.HEARTBEAT_TIMEOUT,
          `nothing from ${attempt.url.href} for ${silentMs} ms (heartbeat interval ${interval} ms + grace ${grace} ms): the link is dead [LP-5.6]`,
        ),
      ),
    );
  }

  private onServerError(attempt: Attempt, code: ProtocolErrorCode, text: string): void {
    const error = new ClientError(code, `server error ${code}: ${text}`, { fromServer: true });
    // Only these two cannot be cured by trying again; everything else (shutdown, heartbeat timeout,
    // slow consumer, internal) is worth a reconnect with back-off.
    if (code === ProtocolErrorCode.AUTH_FAILED || code === ProtocolErrorCode.VERSION_UNSUPPORTED) {
      this.emit('connectionError', error);
      this.finish(attempt, { kind: 'stop', reason: { kind: 'fatal', code, message: text }, graceful: false });
      return;
    }
    this.fail(attempt, error);
  }

  private onGoaway(attempt: Attempt, goaway: Goaway): void {
    this.emit('goaway', goaway);
    if (attempt.ended) return;
    if (goaway.reason === 'replaced') {
      const reason: StopReason = { kind: 'goaway', reason: 'replaced' };
      if (goaway.message !== undefined) reason.message = goaway.message;
      this.finish(attempt, { kind: 'stop', reason, graceful: false });
      return;
    }
    // A draining node: the next attempt goes to the next endpoint, or where the node redirects to.
    const from = attempt.url;
    this.rotation.failed();
    if (goaway.reason === 'redirect' && goaway.redirect !== undefined) {
      this.followRedirect(from, goaway.redirect);
    }
    // The hint is a minimum; jitter on top keeps a drained fleet from returning in lockstep.
    const delayMs = (goaway.reconnectAfterMs ?? 0) + this.backoff.next();
    this.finish(attempt, { kind: 'retry', delayMs });
  }

  private followRedirect(from: ServerUrl, target: string): void {
    let url: ServerUrl;
    try {
      url = redirectTarget(from, target);
      this.checkTransport(url);
    } catch (error) {
      this.emit(
        'connectionError',
        error instanceof ClientError
          ? error
          : new ClientError(ClientErrorCode.BAD_URL, `bad redirect ${target}`, { cause: error }),
      );
      return;
    }
    this.rotation.redirectTo(url);
  }

  private onPushFrame(attempt: Attempt, push: Push): void {
    attempt.maxSeq = Math.max(attempt.maxSeq, push.seq);
    const arrival = this.delivery.arrive(push.id, push.seq);
    if (arrival === 'processed') {
      // [LP-6.4] The ack was lost or the server resent it: ack again, do not re-emit.
      this.queueAck(attempt, push.id);
      return;
    }
    // Whichever run of the handler finishes acks on the connection current at that time, if it saw the id.
    attempt.awaiting.add(push.id);
    if (arrival !== 'in-flight') this.process(push);
  }

  private process(push: Push): void {
    const task = async (): Promise<void> => {
      try {
        this.emit('push', push);
        await this.options.onPush?.(push);
      } catch (cause) {
        this.delivery.failed(push.id);
        this.emit(
          'connectionError',
          new ClientError(
            ClientErrorCode.PUSH_HANDLER_FAILED,
            `handler for push ${push.id} failed; not acked`,
            {
              cause,
            },
          ),
        );
        return;
      }
      this.delivery.succeeded(push.id);
      const attempt = this.current;
      if (attempt !== undefined && attempt.awaiting.has(push.id)) this.queueAck(attempt, push.id);
    };
    // Only a throwing 'connectionError' listener can reject here; surface it like EventEmitter would
    // (uncaught) instead of leaving the chain rejected and every later push unprocessed.
    this.chain = this.chain.then(task).catch((error: unknown) => {
      process.nextTick(() => {
        throw error;
      });
    });
  }

  /**
   * Acks are collected for the rest of the event-loop turn (setImmediate, not the Clock: this is batching,
   * not a timeout) so that a burst of pushes costs one ack frame.
   */
  private queueAck(attempt: Attempt, id: string): void {
    attempt.awaiting.delete(id);
    attempt.ackIds.push(id);
    if (attempt.ackScheduled) return;
    attempt.ackScheduled = true;
    setImmediate(() => this.flushAcks(attempt));
  }

  private flushAcks(attempt: Attempt): void {
    attempt.ackScheduled = false;
    // Acks from a connection that is gone are dropped: the next hello's resume cursor and re-acks of
    // redelivered duplicates cover them.
    if (attempt.ended || this.current !== attempt) {
      attempt.ackIds = [];
      return;
    }
    this.sendAcks(attempt);
  }

  /** Sends the collected ids, at most {@link LIMITS.ackIdsMaxCount} per frame, with the cursor. [LP-6.5] */
  private sendAcks(attempt: Attempt): void {
    for (const ack of takeAcks(attempt, this.delivery.lastSeq)) this.send(attempt, ack);
  }

  private onLinkClosed(attempt: Attempt, error: Error | undefined): void {
    attempt.linkClosed = true;
    for (const resolve of attempt.onClosed.splice(0)) resolve();
    if (attempt.ended) return;
    this.fail(
      attempt,
      new ClientError(
        ClientErrorCode.CONNECTION_LOST,
        `connection to ${attempt.url.href} closed${error ? `: ${error.message}` : ''}`,
        error ? { cause: error } : {},
      ),
    );
  }

  /**
   * A failure that is worth retrying: report it, drop the connection and move on to the next endpoint —
   * at once within a round, after the back-off once every endpoint failed in a row.
   */
  private fail(attempt: Attempt, error: ClientError, options: { keepLink?: boolean } = {}): void {
    if (attempt.ended) return;
    this.emit('connectionError', error);
    const roundOver = this.current !== attempt || this.rotation.failed();
    const delayMs = roundOver ? this.backoff.next() : 0;
    this.finish(attempt, { kind: 'retry', delayMs }, options.keepLink === true);
  }

  private whenClosed(attempt: Attempt): Promise<void> {
    if (attempt.linkClosed || attempt.link === undefined) return Promise.resolve();
    return new Promise((resolve) => attempt.onClosed.push(resolve));
  }

  /** Ends an attempt exactly once and moves to what comes next. */
  private finish(
    attempt: Attempt,
    next:
      | { kind: 'retry'; delayMs: number }
      | { kind: 'stop'; reason: StopReason; graceful: boolean }
      | { kind: 'silent' },
    keepLink = false,
  ): void {
    if (attempt.ended) return;
    attempt.ended = true;
    this.clearAttemptTimer(attempt);
    if (attempt.healthyTimer !== undefined) this.clock.clearTimeout(attempt.healthyTimer);
    attempt.healthyTimer = undefined;
    attempt.watchdog?.stop();
    attempt.transport?.cancel();
    attempt.transport = undefined;
    const link = attempt.link;
    if (link !== undefined && !attempt.linkClosed && !keepLink) {
      if (next.kind === 'stop' && next.graceful) {
        // Acks already earned go out before the close; end() flushes them.
        this.sendAcks(attempt);
        link.end();
        this.destroyLater(attempt, link);
      } else {
        link.destroy();
      }
    } else if (link !== undefined && !attempt.linkClosed) {
      this.destroyLater(attempt, link);
    }
    if (this.current !== attempt) return;
    if (next.kind === 'silent') return;
    if (next.kind === 'stop') {
      this.current = undefined;
      this.enterStopped(next.reason);
      return;
    }
    this.current = undefined;
    this.setState('backoff');
    if (this._state !== 'backoff' || this.current !== undefined) return; // a listener moved on
    if (next.delayMs === 0) {
      this.retryImmediate = setImmediate(() => {
        this.retryImmediate = undefined;
        if (this._state === 'backoff') this.connect();
      });
      return;
    }
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this._state === 'backoff') this.connect();
    }, next.delayMs);
  }

  /**
   * Gives a closing link {@link CLOSE_TIMEOUT_MS} to finish, then destroys it and stops waiting for it:
   * whoever awaits the close (stop()) is released even if the transport never reports one.
   */
  private destroyLater(attempt: Attempt, link: FrameLink): void {
    const timer = this.clock.setTimeout(() => {
      link.destroy();
      for (const resolve of attempt.onClosed.splice(0)) resolve();
    }, CLOSE_TIMEOUT_MS);
    attempt.onClosed.push(() => this.clock.clearTimeout(timer));
  }

  private enterStopped(reason: StopReason): void {
    this.clearRetry();
    this.setState('stopped');
    this.emit('stopped', reason);
  }
}
