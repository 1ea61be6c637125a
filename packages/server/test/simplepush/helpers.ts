/**
 * Test fixtures for the SimplePush gateway over real TLS on loopback: a self-signed identity, a running
 * gateway with a manual clock and an event log, test clients, and a raw peer that sends exactly the
 * bytes a test chooses.
 */
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import selfsigned from 'selfsigned';
import { ManualClock } from '@localpush/protocol';
import {
  SpFrameDecoder,
  decodeSpEnvelope,
  encodeSpAcknowledge,
  encodeSpFrame,
  encodeSpRequest,
  type SpEnvelope,
  type SpMessage,
  type SpUser,
} from '../../src/simplepush/codec.js';
import { SimplePushGateway, type SimplePushGatewayOptions } from '../../src/simplepush/gateway.js';
import { listenSimplePush, spkiPinBase64, type SimplePushListener } from '../../src/simplepush/listen.js';
import {
  SimplePushTestClient,
  connectSimplePush,
  type SimplePushRole,
  type SimplePushTestClientOptions,
} from '../../src/simplepush/test-client.js';

export interface Identity {
  key: string;
  cert: string;
  pin: string;
}

let identity: Promise<Identity> | undefined;

/** One self-signed identity per test process, like the sample's CN=SimplePushServer certificate. */
export function testIdentity(): Promise<Identity> {
  identity ??= selfsigned
    .generate([{ name: 'commonName', value: 'SimplePushServer' }], { keyType: 'ec', algorithm: 'sha256' })
    .then((pems) => ({ key: pems.private, cert: pems.cert, pin: spkiPinBase64(pems.cert) }));
  return identity;
}

/** A user with a fresh upper-case UUID. */
export function user(deviceName: string): SpUser {
  return { uuid: randomUUID().toUpperCase(), deviceName };
}

/** Records gateway hook calls as strings and lets a test wait for one. */
export class EventLog {
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];

  add(line: string): void {
    this.lines.push(line);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Forgets the lines so far, so that `until` waits for new ones. */
  clear(): void {
    this.lines.length = 0;
  }

  /** Resolves once a line matching `pattern` was logged (now or later). */
  async until(pattern: RegExp | string): Promise<void> {
    const match = (l: string): boolean => (typeof pattern === 'string' ? l === pattern : pattern.test(l));
    while (!this.lines.some(match)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

export interface Harness {
  clock: ManualClock;
  gateway: SimplePushGateway;
  listener: SimplePushListener;
  log: EventLog;
  identity: Identity;
  /** A test client for `who` in `role`, started and registered. */
  client(
    role: SimplePushRole,
    who: SpUser,
    options?: Partial<SimplePushTestClientOptions>,
  ): Promise<SimplePushTestClient>;
  /** Both of a user's clients, registered. */
  device(who: SpUser): Promise<{ app: SimplePushTestClient; ext: SimplePushTestClient }>;
  raw(channel: 'control' | 'notification'): Promise<RawPeer>;
  /**
   * Waits until the gateway has read every ack the registered test clients sent so far, then advances
   * the clock: with a manual clock, an ack still in flight would otherwise time out.
   */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a gateway on two loopback TLS ports (port 0) with a manual clock. */
export async function startHarness(options: SimplePushGatewayOptions = {}): Promise<Harness> {
  const id = await testIdentity();
  const clock = new ManualClock();
  const log = new EventLog();
  const name = (u: SpUser): string => u.deviceName;
  const gateway = new SimplePushGateway({
    clock,
    ...options,
    hooks: {
      onConnection: (channel) => log.add(`connection ${channel}`),
      onSessionOpen: (u, channel) => log.add(`open ${name(u)} ${channel}`),
      onSessionClose: (u, channel, reason) => log.add(`close ${name(u)} ${channel} ${reason}`),
      onProtocolError: (error, channel, u) => log.add(`error ${channel} ${u ? name(u) : '-'} ${error.code}`),
      onDirectoryChange: (users) => log.add(`directory ${users.map(name).join(',')}`),
      onHeartbeat: (u, channel, outcome) => log.add(`heartbeat ${name(u)} ${channel} ${outcome}`),
      onResponsiveChange: (u, responsive) =>
        log.add(`${responsive ? 'responsive' : 'unresponsive'} ${name(u)}`),
      onTextDelivery: (text, delivered) => log.add(`text ${name(text.from)}>${name(text.to)} ${delivered}`),
      onCallChange: (call) =>
        log.add(
          `call ${name(call.caller)}>${name(call.receiver)} ${call.state}${call.endedBy ? ` ${call.endedBy}` : ''}`,
        ),
      ...options.hooks,
    },
  });
  const listener = await listenSimplePush({
    tls: { key: id.key, cert: id.cert },
    host: '127.0.0.1',
    controlPort: 0,
    notificationPort: 0,
    gateway,
  });
  const clients: SimplePushTestClient[] = [];
  const raws: RawPeer[] = [];
  const client = async (
    role: SimplePushRole,
    who: SpUser,
    extra: Partial<SimplePushTestClientOptions> = {},
  ): Promise<SimplePushTestClient> => {
    const port = role === 'app' ? listener.control.port : listener.notification.port;
    const c = new SimplePushTestClient({
      role,
      user: who,
      clock,
      connect: () => connectSimplePush({ host: '127.0.0.1', port, pin: id.pin }),
      ...extra,
    });
    clients.push(c);
    c.start();
    await c.until(() => c.registered);
    return c;
  };
  return {
    clock,
    gateway,
    listener,
    log,
    identity: id,
    client,
    async device(who) {
      const ext = await client('extension', who);
      const app = await client('app', who);
      return { app, ext };
    },
    async advance(ms) {
      await Promise.all(clients.filter((c) => c.registered).map((c) => c.sync()));
      clock.advance(ms);
    },
    async raw(channel) {
      const port = channel === 'control' ? listener.control.port : listener.notification.port;
      const peer = new RawPeer(await connectSimplePush({ host: '127.0.0.1', port, pin: id.pin }));
      raws.push(peer);
      return peer;
    },
    async close() {
      for (const c of clients) c.close();
      for (const r of raws) r.socket.destroy();
      gateway.close();
      await listener.close();
    },
  };
}

/** A peer written on the codec alone: sends any bytes, records every envelope the server sends. */
export class RawPeer {
  readonly received: SpEnvelope[] = [];
  closed = false;
  /** Acknowledge server requests automatically. */
  autoAck = true;
  private readonly decoder = new SpFrameDecoder(16 * 1024 * 1024);
  private waiters: (() => void)[] = [];
  private nextId = 1;

  constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      for (const payload of this.decoder.push(chunk)) {
        const envelope = decodeSpEnvelope(payload);
        this.received.push(envelope);
        if (this.autoAck && envelope.command === 'request') this.ack(envelope.requestIdentifier);
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Sends a request; returns its identifier. */
  request(message: SpMessage): number {
    const id = this.nextId++;
    this.sendBytes(encodeSpFrame(encodeSpRequest(id, message)));
    return id;
  }

  ack(requestIdentifier: number): void {
    this.sendBytes(encodeSpFrame(encodeSpAcknowledge(requestIdentifier)));
  }

  /** Waits for the server's acknowledgement of request `id`. */
  async acked(id: number): Promise<void> {
    await this.take((e) => e.command === 'acknowledge' && e.requestIdentifier === id);
  }

  /** Registers and waits for the acknowledgement. */
  async register(who: SpUser): Promise<void> {
    await this.acked(this.request({ type: 'user', user: who }));
  }

  /**
   * A round trip: everything the server wrote before it handled this has arrived once it returns, since
   * one TLS stream keeps order. A Heartbeat from a client is acknowledged and otherwise ignored.
   */
  async barrier(): Promise<void> {
    await this.acked(this.request({ type: 'heartbeat', count: 0 }));
  }

  /** Removes and returns the first received envelope matching `where`, waiting for it if needed. */
  async take(where: (e: SpEnvelope) => boolean): Promise<SpEnvelope> {
    for (;;) {
      const index = this.received.findIndex(where);
      if (index >= 0) return this.received.splice(index, 1)[0] as SpEnvelope;
      if (this.closed) throw new Error('connection closed before the expected frame arrived');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The next request carrying a message of `type`. */
  async nextRequest<T extends SpMessage['type']>(
    type: T,
  ): Promise<{ requestIdentifier: number; message: Extract<SpMessage, { type: T }> }> {
    const e = await this.take((x) => x.command === 'request' && x.message.type === type);
    if (e.command !== 'request') throw new Error('unreachable');
    return { requestIdentifier: e.requestIdentifier, message: e.message as Extract<SpMessage, { type: T }> };
  }

  /** Requests of `type` received and not taken. */
  count(type: SpMessage['type']): number {
    return this.received.filter((e) => e.command === 'request' && e.message.type === type).length;
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}
