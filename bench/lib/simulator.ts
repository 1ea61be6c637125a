/**
 * A lean device simulator: the raw localpush protocol over TLS or plain TCP, one small object per device.
 * DeviceClient carries back-off, pinning, dedupe windows and events per device — right for an app, too
 * heavy for thousands in one process — so this speaks the wire directly with the protocol package's
 * framing and encoder, answers heartbeats and acknowledges every push.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket } from 'node:tls';
import { FrameDecoder, PROTOCOL_VERSION, encodeMessage, frame } from '@localpush/protocol';
import type { ClientMessage } from '@localpush/protocol';
import { WebSocket, type RawData } from 'ws';
import {
  PACKET,
  PacketSplitter,
  connectPacket,
  pubackPacket,
  readPublish,
  subscribePacket,
} from './mqtt-wire.js';

/** tls/tcp: length-prefixed frames (LP-2); wss/ws: one WebSocket text message per protocol message (LP-2.6). */
export type Transport = 'tls' | 'tcp' | 'wss' | 'ws';
export const TRANSPORTS: readonly Transport[] = ['tls', 'tcp', 'wss', 'ws'];
/**
 * The same lean devices against an MQTT broker (Mosquitto): MQTT 3.1.1 over plain TCP or TLS, one
 * client per device with a persistent session subscribed at QoS 1 to `bench/<device id>`, PUBACKs
 * written once per turn of the event loop as the localpush devices write their acks. A push's id is the
 * PUBLISH payload.
 */
export type MqttTransport = 'mqtt' | 'mqtts';
export type FleetTransport = Transport | MqttTransport;

/** The topic a device of the MQTT fleet subscribes to. */
export const deviceTopic = (deviceId: string): string => `bench/${deviceId}`;

/** One open connection, whatever the transport. */
interface Conn {
  send(message: ClientMessage): void;
  /** Bytes as they are (the MQTT fleet's packets). */
  write(bytes: Buffer): void;
  destroy(): void;
  /** Resolves when the connection is closed, for whatever reason. */
  readonly closed: Promise<void>;
}

export interface DeviceSpec {
  id: string;
  credential: string;
}

export interface FleetOptions {
  transport: FleetTransport;
  port: number;
  /** How many connections may be opening at once, so the accept backlog is not overrun. */
  concurrency?: number;
  /**
   * Called for every push received (before the ack is written), with the message id and the arrival time
   * in epoch milliseconds with sub-millisecond precision (comparable across the bench's processes).
   */
  onPush?: (id: string, receivedAt: number) => void;
  /**
   * Reconnect when the server closes a connection (the reconnect storm): after 0–500 ms of jitter, then
   * every 250–500 ms while refused. TLS offers the previous session for resumption.
   */
  reconnect?: boolean;
}

interface Device {
  readonly spec: DeviceSpec;
  /** The loopback address it connects from (sourceAddress). */
  readonly source: string;
  conn: Conn | null;
  /** Highest seq received and not yet acknowledged; 0 when nothing is pending. */
  ackThrough: number;
  ackScheduled: boolean;
  /** The last TLS session the server gave this device, offered again on reconnect. */
  session: Buffer | undefined;
  /** MQTT: PUBACKs owed, written together at the end of the turn. */
  pubacks: number[];
}

/** A WebSocket message as text, whichever of its buffer shapes `ws` delivered. */
function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/** performance.now() on the epoch: precise like it, and comparable between processes like Date.now(). */
/**
 * The loopback address a device connects from. Real devices each have their own address; from one
 * address a whole fleet would meet the server's per-address cap on unauthenticated connections (256,
 * [LP-4.2]) in a reconnect storm and measure that cap, not the server. Linux routes all of 127.0.0.0/8 to
 * the loopback interface, so 200 source addresses (50 devices each at 10,000) cost nothing to set up.
 */
export const SOURCE_ADDRESSES = 200;
export function sourceAddress(index: number): string {
  return `127.0.1.${1 + (index % SOURCE_ADDRESSES)}`;
}

export const epochNow = (): number => performance.timeOrigin + performance.now();

/** What the scenarios need of a set of simulated devices, in this process or in worker processes. */
export interface DeviceFleet {
  readonly failures: number;
  readonly lastError: string | undefined;
  /** Welcomes received, first connections and reconnections together. */
  readonly welcomes: number;
  /** TLS handshakes that resumed a previous session. */
  readonly resumed: number;
  /** Devices welcomed on a connection that is still open. */
  readonly connected: number;
  /** The worker processes' pids, for CPU accounting; empty when the devices run in the bench process. */
  readonly pids: readonly number[];
  /** Gets ready to connect (starts worker processes), so that start-up is not timed as connecting. */
  prepare(): Promise<void>;
  connect(specs: readonly DeviceSpec[], onWelcome?: (welcomed: number) => void): Promise<void>;
  close(): Promise<void>;
}

/** Devices that connect, hold their sessions, and count what they received. */
export class Fleet implements DeviceFleet {
  private readonly devices: Device[] = [];
  private readonly options: FleetOptions;
  pushes = 0;
  heartbeats = 0;
  welcomes = 0;
  resumed = 0;
  connected = 0;
  /** Connections closed by the peer or failed, after the welcome or before it. */
  failures = 0;
  lastError: string | undefined;
  /** Set by close(), so that closes the bench asked for are not counted as failures. */
  private closing = false;
  /** One client TLS context for every device: building one per connection is most of tls.connect's cost. */
  private readonly clientContext = createSecureContext();
  readonly pids: readonly number[] = [];

  constructor(options: FleetOptions) {
    this.options = options;
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  get size(): number {
    return this.devices.length;
  }

  /** Connects every device and resolves once all are welcomed; `onWelcome` reports progress. */
  async connect(specs: readonly DeviceSpec[], onWelcome?: (welcomed: number) => void): Promise<void> {
    let next = 0;
    let welcomed = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const spec = specs[next++];
        if (spec === undefined) return;
        await this.open(spec);
        onWelcome?.(++welcomed);
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency ?? 100 }, worker));
  }

  private open(spec: DeviceSpec): Promise<void> {
    const device: Device = {
      spec,
      source: sourceAddress(this.devices.length),
      conn: null,
      ackThrough: 0,
      ackScheduled: false,
      session: undefined,
      pubacks: [],
    };
    this.devices.push(device);
    return this.dial(device);
  }

  /** One connection of a device; resolves on its welcome. */
  private dial(device: Device): Promise<void> {
    const { spec } = device;
    return new Promise<void>((resolve, reject) => {
      let welcomed = false;
      const hello: ClientMessage = {
        type: 'hello',
        version: PROTOCOL_VERSION,
        deviceId: spec.id,
        credential: spec.credential,
        capabilities: [],
        agent: 'localpush-bench',
      };
      // JSON.parse without the protocol validator: the server is trusted here and the simulator's CPU is
      // shared with the server on this machine, so every microsecond spent here skews the figures.
      const handle = (conn: Conn, text: string, resumed: () => boolean): void => {
        const message = JSON.parse(text) as { type: string; seq?: number; id?: string; message?: string };
        if (message.type === 'push' && message.seq !== undefined) {
          this.pushes++;
          if (message.id !== undefined) this.options.onPush?.(message.id, epochNow());
          this.scheduleAck(device, message.seq);
        } else if (message.type === 'heartbeat' && message.seq !== undefined) {
          this.heartbeats++;
          conn.send({ type: 'heartbeat_ack', seq: message.seq });
        } else if (message.type === 'welcome' && !welcomed) {
          welcomed = true;
          this.welcomes++;
          this.connected++;
          if (resumed()) this.resumed++;
          resolve();
        } else if (message.type === 'error') {
          this.lastError = `${spec.id}: ${message.message ?? 'error'}`;
        }
      };
      const onError = (error: Error): void => {
        this.lastError = `${spec.id}: ${error.message}`;
      };
      const onClose = (conn: Conn): void => {
        if (device.conn === conn) device.conn = null;
        if (welcomed) this.connected--;
        if (welcomed && !this.closing) this.failures++;
        if (!welcomed) reject(new Error(`device ${spec.id} closed before welcome: ${this.lastError ?? ''}`));
        if (this.options.reconnect === true && !this.closing) {
          // Jitter after a lost session spreads the storm as real clients do; a refused attempt backs off.
          const delay = welcomed ? Math.random() * 500 : 250 + Math.random() * 250;
          setTimeout(() => {
            if (!this.closing) this.dial(device).catch(() => undefined);
          }, delay);
        }
      };
      const { port, transport } = this.options;
      if (transport === 'ws' || transport === 'wss') {
        // Self-signed certificate, pin not checked: see below. No compression, as on a phone's socket.
        const ws = new WebSocket(`${transport}://127.0.0.1:${port}/v1/connect`, {
          rejectUnauthorized: false,
          perMessageDeflate: false,
          localAddress: device.source,
        });
        const conn: Conn = {
          send: (message) => ws.send(Buffer.from(encodeMessage(message)).toString('utf8')),
          write: (bytes) => ws.send(bytes),
          destroy: () => ws.terminate(),
          closed: new Promise((done) => ws.once('close', () => done())),
        };
        device.conn = conn;
        ws.once('open', () => conn.send(hello));
        ws.on('message', (data: RawData) => handle(conn, rawText(data), () => false));
        ws.on('error', onError);
        ws.once('close', () => onClose(conn));
        return;
      }
      // The server's certificate is self-signed and pinned by real clients; on loopback, in a benchmark, the
      // pin check is left out because it is per-handshake CPU spent in the simulator, not in the server.
      // TCP first and TLS once it is connected, as a phone's stack does, with one TLS context for the fleet:
      // Node's tls.connect would build a context, a TLS socket and a parsed session before even dialling,
      // which in the reconnect storm — every device retrying while the server restarts — cost the two
      // cores the server shares with the simulator about 0.5 ms per refused attempt.
      // Called once the socket is up, when `conn` below is set.
      const readMqtt = (stream: Socket | TLSSocket): void => {
        const splitter = new PacketSplitter();
        stream.once(stream instanceof TLSSocket ? 'secureConnect' : 'connect', () =>
          conn.write(connectPacket(spec.id, false, 0)),
        );
        stream.on('data', (chunk: Buffer) => {
          for (const p of splitter.push(chunk)) {
            if (p.type === PACKET.publish) {
              const { packetId, payload } = readPublish(p);
              this.pushes++;
              this.options.onPush?.(payload.toString('latin1'), epochNow());
              if (packetId !== 0) this.schedulePuback(device, packetId);
            } else if (p.type === PACKET.connack) {
              conn.write(subscribePacket(1, deviceTopic(spec.id), 1));
            } else if (p.type === PACKET.suback && !welcomed) {
              welcomed = true;
              this.welcomes++;
              this.connected++;
              resolve();
            }
          }
        });
        stream.on('error', onError);
      };
      const tcp = netConnect({ host: '127.0.0.1', port, localAddress: device.source });
      tcp.setNoDelay(true);
      let socket: Socket | TLSSocket = tcp;
      const closed = new Promise<void>((done) => {
        let reported = false;
        const closedOnce = (): void => {
          if (reported) return;
          reported = true;
          onClose(conn);
          done();
        };
        tcp.once('close', closedOnce);
        if (transport === 'tls' || transport === 'mqtts') {
          tcp.once('connect', () => {
            const secure = tlsConnect({
              socket: tcp,
              rejectUnauthorized: false,
              session: device.session,
              secureContext: this.clientContext,
            });
            socket = secure;
            secure.on('session', (session: Buffer) => (device.session = session));
            secure.once('close', closedOnce);
            read(secure);
          });
        } else read(tcp);
      });
      const decoder = new FrameDecoder();
      const conn: Conn = {
        send: (message) => socket.write(frame(encodeMessage(message))),
        write: (bytes) => socket.write(bytes),
        destroy: () => socket.destroy(),
        closed,
      };
      device.conn = conn;
      function read(stream: Socket | TLSSocket): void {
        if (transport === 'mqtt' || transport === 'mqtts') {
          readMqtt(stream);
          return;
        }
        const resumed = (): boolean => stream instanceof TLSSocket && stream.isSessionReused();
        stream.once(stream instanceof TLSSocket ? 'secureConnect' : 'connect', () => conn.send(hello));
        stream.on('data', (chunk: Buffer) => {
          let frames: Uint8Array[];
          try {
            frames = decoder.push(chunk);
          } catch (error) {
            stream.destroy(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          for (const payload of frames) handle(conn, Buffer.from(payload).toString('utf8'), resumed);
        });
        stream.on('error', onError);
      }
      tcp.on('error', onError);
    });
  }

  /**
   * Acks are cumulative (`through`) and coalesced per device to one per turn of the event loop, as the
   * protocol allows (LP-6.5): a burst of pushes in one read costs one ack frame, not one each. One
   * setImmediate serves every device with an ack due, rather than one per device: at tens of thousands
   * of pushes a second that is CPU the simulator takes from the server it shares the cores with.
   */
  private scheduleAck(device: Device, seq: number): void {
    if (seq > device.ackThrough) device.ackThrough = seq;
    if (device.ackScheduled) return;
    device.ackScheduled = true;
    this.acksDue.push(device);
    if (this.acksDue.length === 1) setImmediate(this.sendAcks);
  }

  private readonly acksDue: Device[] = [];

  /** MQTT has no cumulative ack: one PUBACK per message, but one write per device per turn. */
  private schedulePuback(device: Device, packetId: number): void {
    device.pubacks.push(packetId);
    if (device.ackScheduled) return;
    device.ackScheduled = true;
    this.acksDue.push(device);
    if (this.acksDue.length === 1) setImmediate(this.sendAcks);
  }

  private readonly sendAcks = (): void => {
    for (const device of this.acksDue.splice(0)) {
      device.ackScheduled = false;
      if (device.pubacks.length > 0) {
        const owed = device.pubacks.splice(0);
        device.conn?.write(
          owed.length === 1 ? pubackPacket(owed[0] ?? 0) : Buffer.concat(owed.map(pubackPacket)),
        );
        continue;
      }
      const through = device.ackThrough;
      device.ackThrough = 0;
      if (through > 0 && device.conn !== null) device.conn.send({ type: 'ack', through });
    }
  };

  /** Closes every connection and waits until all are gone. */
  async close(): Promise<void> {
    this.closing = true;
    const closing: Promise<void>[] = [];
    for (const device of this.devices) {
      const conn = device.conn;
      if (conn === null) continue;
      device.conn = null;
      closing.push(conn.closed);
      conn.destroy();
    }
    await Promise.all(closing);
  }
}
