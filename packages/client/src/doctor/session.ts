/**
 * The connection check: a real diagnostic session with the device's credential [LP-10.3] held for a
 * window, sending probes [LP-10.2] at a steady interval and timing each round trip through the server's
 * connection path, answering the server's heartbeats as a device would, and reading the kernel's TCP
 * counters of its own socket at the end (retransmitted segments are the path's packet loss, which TCP
 * otherwise hides as delay).
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import {
  CAPABILITIES,
  PROTOCOL_VERSION,
  decodeServerMessage,
  encodeMessage,
  systemClock,
  type Clock,
  type ClientMessage,
  type ServerMessage,
  type TimerHandle,
} from '@localpush/protocol';
import { streamLink, type FrameLink } from '@localpush/protocol/link';
import { ClientErrorCode } from '../connection/errors.js';
import { checkPeerPin, decodePins } from '../connection/pinning.js';
import type { ReachTarget } from './reachability.js';

export interface SessionOptions {
  deviceId: string;
  credential: string;
  /** Connect here (an address reachability resolved); default the URL's host. */
  address?: string;
  /** How long to measure. Default 60 s. */
  windowMs?: number;
  /** Time between probes. Default 200 ms (300 probes a minute). */
  intervalMs?: number;
  /** Characters of pad per probe, to give it the size of a real push. Default 256. */
  padChars?: number;
  /** Welcome deadline. Default 10 s. */
  connectTimeoutMs?: number;
  /** Timers (the probe schedule and deadlines). Default the system clock. */
  clock?: Clock;
  /** A monotonic high-resolution clock for round trips. Default performance.now. */
  now?: () => number;
  /** Called after each answered probe (progress on a long window). */
  onProbe?: (answered: number, sent: number) => void;
  /** Awaited when the window is over, before the socket closes (to read its TCP counters). */
  beforeClose?: (localPort: number | undefined) => Promise<void>;
}

/** What a session measured. */
export interface SessionMeasurement {
  /** Null when the session never got a welcome; `failure` then says why. */
  welcome: {
    ms: number;
    capabilities: string[];
    heartbeatIntervalMs: number;
    heartbeatGraceMs: number;
  } | null;
  failure?: { stage: 'connect' | 'welcome' | 'session'; code: string; message: string };
  /** Round trips of answered probes, in the order sent (ms). */
  rtts: number[];
  sent: number;
  /** Probes with no answer by the end of the drain. */
  lost: number;
  heartbeats: number;
  /** How long the session was held (ms). */
  heldMs: number;
  localPort?: number;
}

const DEFAULTS = { windowMs: 60_000, intervalMs: 200, padChars: 256, connectTimeoutMs: 10_000 } as const;

/** Opens a diagnostic session, probes for the window, and closes it. Never throws for network trouble. */
export async function measureSession(
  target: ReachTarget,
  options: SessionOptions,
): Promise<SessionMeasurement> {
  const result: SessionMeasurement = { welcome: null, rtts: [], sent: 0, lost: 0, heartbeats: 0, heldMs: 0 };
  const socket = await openSocket(target, options).catch((error: Error & { code?: string }) => {
    result.failure = { stage: 'connect', code: error.code ?? 'ECONNECT', message: error.message };
    return undefined;
  });
  if (socket === undefined) return result;
  if (socket.localPort !== undefined) result.localPort = socket.localPort;
  const run = new DiagnosticRun(streamLink(socket), target, options, result);
  await run.finished;
  socket.destroy();
  return result;
}

async function openSocket(target: ReachTarget, options: SessionOptions): Promise<Socket> {
  const host = options.address ?? target.url.host;
  const deadline = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  return new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no connection within ${deadline} ms`), { code: 'ETIMEDOUT' }));
    }, deadline);
    const settle = (error: Error | undefined): void => {
      clearTimeout(timer);
      if (error === undefined) resolve(socket);
      else {
        socket.destroy();
        reject(error);
      }
    };
    let socket: Socket;
    if (target.url.scheme === 'tcp') {
      socket = netConnect({ host, port: target.url.port, noDelay: true });
      socket.once('connect', () => settle(undefined));
    } else {
      const tls = tlsConnect({
        host,
        port: target.url.port,
        ...(isIP(target.url.host) === 0 ? { servername: target.url.host } : {}),
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        rejectUnauthorized: target.pin === undefined,
      });
      tls.setNoDelay(true);
      socket = tls;
      tls.once('secureConnect', () => {
        if (target.pin === undefined || checkPeerPin(tls, decodePins(target.pin)).ok) settle(undefined);
        else
          settle(
            Object.assign(new Error('the server key matches no pin'), { code: ClientErrorCode.PIN_MISMATCH }),
          );
      });
    }
    socket.once('error', (error) => settle(error));
  });
}

/** One diagnostic session's life: hello, welcome, probes until the window ends, drain, close. */
class DiagnosticRun {
  readonly finished: Promise<void>;
  private resolve!: () => void;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly pad: string;
  private readonly outstanding = new Map<string, number>();
  private readonly rttById = new Map<number, number>();
  private timers: TimerHandle[] = [];
  private probeTimer: TimerHandle | undefined;
  private started = 0;
  private done = false;

  constructor(
    private readonly link: FrameLink,
    target: ReachTarget,
    private readonly options: SessionOptions,
    private readonly result: SessionMeasurement,
  ) {
    void target;
    this.clock = options.clock ?? systemClock;
    this.now = options.now ?? (() => performance.now());
    this.pad = 'x'.repeat(options.padChars ?? DEFAULTS.padChars);
    this.finished = new Promise((resolve) => (this.resolve = resolve));
    link.start({
      frame: (payload) => this.onFrame(payload),
      protocolError: (error) => this.fail('session', error.code, error.message),
      close: (error) => this.onClose(error),
    });
    this.started = this.now();
    this.send({
      type: 'hello',
      version: PROTOCOL_VERSION,
      deviceId: options.deviceId,
      credential: options.credential,
      capabilities: [CAPABILITIES.probe, CAPABILITIES.diagnostic],
      agent: 'localpush-doctor',
    });
    const deadline = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.later(deadline, () => {
      if (this.result.welcome === null)
        this.fail('welcome', ClientErrorCode.WELCOME_TIMEOUT, `no welcome within ${deadline} ms`);
    });
  }

  private send(message: ClientMessage): void {
    this.link.send(encodeMessage(message));
  }

  private later(delayMs: number, fn: () => void): void {
    this.timers.push(this.clock.setTimeout(fn, delayMs));
  }

  private onFrame(payload: Uint8Array): void {
    let message: ServerMessage;
    try {
      message = decodeServerMessage(payload);
    } catch (error) {
      this.fail(
        'session',
        (error as { code?: string }).code ?? 'LP_MESSAGE_INVALID',
        (error as Error).message,
      );
      return;
    }
    switch (message.type) {
      case 'welcome':
        this.onWelcome(message);
        break;
      case 'heartbeat':
        this.result.heartbeats += 1;
        this.send({ type: 'heartbeat_ack', seq: message.seq });
        break;
      case 'probe_reply':
        this.onReply(message.id);
        break;
      case 'push':
      case 'notice':
        // [LP-10.3] Never acknowledged: a push that reaches a diagnostic session is redelivered to the device.
        break;
      case 'goaway':
        this.fail(
          'session',
          `goaway:${message.reason}`,
          message.message ?? `the server sent goaway (${message.reason})`,
        );
        break;
      case 'error':
        this.fail(this.result.welcome === null ? 'welcome' : 'session', message.code, message.message);
        break;
    }
  }

  private onWelcome(welcome: Extract<ServerMessage, { type: 'welcome' }>): void {
    this.result.welcome = {
      ms: this.now() - this.started,
      capabilities: welcome.capabilities,
      heartbeatIntervalMs: welcome.heartbeatIntervalMs,
      heartbeatGraceMs: welcome.heartbeatGraceMs,
    };
    // [LP-10.3] An older server made this the device's session: close at once so the device gets it back.
    if (
      !welcome.capabilities.includes(CAPABILITIES.diagnostic) ||
      !welcome.capabilities.includes(CAPABILITIES.probe)
    ) {
      this.fail(
        'welcome',
        ClientErrorCode.DIAGNOSTIC_UNSUPPORTED,
        'the server does not offer diagnostic sessions with probes (an older localpush)',
      );
      return;
    }
    const windowMs = this.options.windowMs ?? DEFAULTS.windowMs;
    this.later(windowMs, () => this.drain());
    this.probe();
  }

  private probe(): void {
    if (this.done) return;
    const n = this.result.sent++;
    const id = `p${n}`;
    this.outstanding.set(id, this.now());
    this.send({ type: 'probe', id, pad: this.pad });
    this.probeTimer = this.clock.setTimeout(
      () => this.probe(),
      this.options.intervalMs ?? DEFAULTS.intervalMs,
    );
  }

  private onReply(id: string): void {
    const sentAt = this.outstanding.get(id);
    if (sentAt === undefined) return;
    this.outstanding.delete(id);
    this.rttById.set(Number(id.slice(1)), this.now() - sentAt);
    this.options.onProbe?.(this.rttById.size, this.result.sent);
    if (this.draining && this.outstanding.size === 0) this.finish();
  }

  private draining = false;

  /** The window is over: no more probes; wait for those in flight (a generous deadline), then close. */
  private drain(): void {
    if (this.done) return;
    if (this.probeTimer !== undefined) this.clock.clearTimeout(this.probeTimer);
    this.draining = true;
    if (this.outstanding.size === 0) return this.finish();
    const worstSoFar = Math.max(0, ...this.rttById.values());
    this.later(Math.min(10_000, Math.max(2000, 4 * worstSoFar)), () => this.finish());
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.result.heldMs = this.now() - this.started;
    this.result.lost = this.outstanding.size;
    this.result.rtts = [...this.rttById.entries()].sort((a, b) => a[0] - b[0]).map(([, rtt]) => rtt);
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    if (this.probeTimer !== undefined) this.clock.clearTimeout(this.probeTimer);
    const close = (): void => {
      this.link.end();
      this.resolve();
    };
    if (this.result.failure !== undefined || this.options.beforeClose === undefined) return close();
    this.options.beforeClose(this.result.localPort).then(close, close);
  }

  private fail(stage: 'welcome' | 'session', code: string, message: string): void {
    if (this.done) return;
    this.result.failure ??= { stage, code, message };
    this.finish();
    this.link.destroy();
  }

  private onClose(error: Error | undefined): void {
    if (this.done) return;
    const stage = this.result.welcome === null ? 'welcome' : 'session';
    this.fail(
      stage,
      ClientErrorCode.CONNECTION_LOST,
      `the server closed the connection${error ? ` (${error.message})` : ''}`,
    );
  }
}
