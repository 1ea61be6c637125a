/**
 * The same workloads against Mosquitto, what a user would pick instead, on the bench's own broker
 * (bench/lib/mosquitto.ts: plain and TLS listeners, the server's certificate): one client per device,
 * QoS 1, a topic per device, persistent sessions. Two kinds of client:
 *
 * - **lean**: the bench's own simulator, in the same worker processes that drive localpush, speaking
 *   MQTT 3.1.1 by hand (bench/lib/mqtt-wire.ts), with a raw publisher in the bench process. This is the
 *   fair comparison: both sides get a client that does the least the protocol asks.
 * - **mqtt.js**: one `mqtt` (npm) client per device, all in the bench process, as the bench did before;
 *   kept to show how much a general client bounds the broker.
 *
 * MQTT has no receipt feed, so latency is the bench view: publish → message at the subscriber, the same
 * "sent → device" figure the localpush delivery run reports. The broker's CPU is read from /proc.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { connect, type MqttClient } from 'mqtt';
import { seededRandom } from '../../packages/server/test/crash/harness.js';
import { measureCpu, type CpuShare } from '../lib/cpu.js';
import type { MosquittoProcess } from '../lib/mosquitto.js';
import { PACKET, PacketSplitter, connectPacket, publishPacket } from '../lib/mqtt-wire.js';
import { deviceTopic, epochNow, type DeviceFleet, type MqttTransport } from '../lib/simulator.js';
import { Progress, sleep, summarise, type LatencySummary } from '../lib/stats.js';
import { makeFleet } from '../lib/workers.js';

export type MqttClientKind = 'lean' | 'mqtt.js';

export interface MosquittoDeliveryResult {
  transport: MqttTransport;
  client: MqttClientKind;
  mode: string;
  devices: number;
  messages: number;
  received: number;
  elapsedMs: number;
  throughputPerSec: number;
  sendToDeviceMs: LatencySummary;
  cpu: CpuShare[];
  cpuWindowMs: number;
  /** acked in the CPU accounting's sense: messages received by their device. */
  acked: number;
}

export interface MosquittoConnectResult {
  transport: MqttTransport;
  devices: number;
  connectMs: number;
  connectionsPerSec: number;
  /** Null when the broker's RSS grew by less than 64 KiB (page-granularity noise). */
  rssPerConnectionBytes: number | null;
}

/** Below this growth of the broker's RSS the figure is page-granularity noise, not a per-connection cost. */
const MIN_GROWTH = 64 * 1024;

const portOf = (broker: MosquittoProcess, transport: MqttTransport): number =>
  transport === 'mqtts' ? broker.tlsPort : broker.tcpPort;

const specsFor = (run: string, devices: number) =>
  Array.from({ length: devices }, (_, i) => ({ id: `${run}-${i}`, credential: '' }));

export async function runMosquittoConnect(
  broker: MosquittoProcess,
  transport: MqttTransport,
  devices: number,
  holdMs: number,
  workers: number,
): Promise<MosquittoConnectResult> {
  const run = `c${process.pid}${Date.now().toString(36)}${transport}`;
  const before = await broker.rss();
  const fleet = makeFleet(workers, transport, portOf(broker, transport));
  try {
    await fleet.prepare();
    const progress = new Progress(`[a mosquitto ${transport}] connect`, devices);
    const started = performance.now();
    await fleet.connect(specsFor(run, devices), (n) => progress.update(n));
    const connectMs = performance.now() - started;
    progress.done();
    await sleep(holdMs);
    const after = await broker.rss();
    return {
      transport,
      devices,
      connectMs: Math.round(connectMs),
      connectionsPerSec: Math.round((devices / connectMs) * 1000),
      rssPerConnectionBytes: after - before < MIN_GROWTH ? null : Math.round((after - before) / devices),
    };
  } finally {
    await fleet.close();
  }
}

export interface MosquittoDeliveryOptions {
  devices: number;
  messages: number;
  rates: readonly number[];
  durationMs: number;
  seed: number;
  workers: number;
}

/** One publisher connection that keeps up to `window` QoS 1 publishes awaiting their PUBACK. */
class RawPublisher {
  private socket!: Socket;
  private nextId = 1;
  inFlight = 0;
  private waiters: (() => void)[] = [];
  /** Publishes written since the last flush: one write for all of them. */
  private out: Buffer[] = [];

  static async open(
    broker: MosquittoProcess,
    transport: MqttTransport,
    clientId: string,
  ): Promise<RawPublisher> {
    const publisher = new RawPublisher();
    const port = portOf(broker, transport);
    const socket =
      transport === 'mqtts'
        ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
        : netConnect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    publisher.socket = socket;
    const splitter = new PacketSplitter();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once(transport === 'mqtts' ? 'secureConnect' : 'connect', () =>
        socket.write(connectPacket(clientId, true, 0)),
      );
      socket.on('data', (chunk: Buffer) => {
        for (const p of splitter.push(chunk)) {
          if (p.type === PACKET.connack) resolve();
          else if (p.type === PACKET.puback) publisher.acked();
        }
      });
    });
    return publisher;
  }

  private acked(): void {
    this.inFlight--;
    const waiter = this.waiters.shift();
    waiter?.();
  }

  publish(topic: string, payload: string): void {
    this.inFlight++;
    this.out.push(publishPacket(this.nextId, topic, payload));
    this.nextId = this.nextId === 65_535 ? 1 : this.nextId + 1;
  }

  flush(): void {
    if (this.out.length === 0) return;
    this.socket.write(Buffer.concat(this.out));
    this.out = [];
  }

  /** Resolves once fewer than `window` publishes await their PUBACK. */
  async below(window: number): Promise<void> {
    while (this.inFlight >= window) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async drained(): Promise<void> {
    await this.below(1);
  }

  close(): void {
    this.socket.destroy();
  }
}

interface RunState {
  prefix: string;
  sentAt: Float64Array;
  received: number[];
}

/** Delivery through the bench's own broker with the lean devices and the raw publisher. */
export async function runMosquittoDelivery(
  broker: MosquittoProcess,
  transport: MqttTransport,
  options: MosquittoDeliveryOptions,
): Promise<MosquittoDeliveryResult[]> {
  const run = `d${process.pid}${Date.now().toString(36)}${transport}`;
  let state: RunState | undefined;
  const fleet: DeviceFleet = makeFleet(options.workers, transport, portOf(broker, transport), (id, at) => {
    const s = state;
    if (s === undefined || !id.startsWith(s.prefix)) return;
    const index = Number(id.slice(s.prefix.length));
    const sent = s.sentAt[index];
    // QoS 1 is at least once: a duplicate is not a second delivery.
    if (sent === undefined || Number.isNaN(sent)) return;
    s.received.push(at - sent);
    s.sentAt[index] = Number.NaN;
  });
  const results: MosquittoDeliveryResult[] = [];
  let publisher: RawPublisher | undefined;
  try {
    await fleet.prepare();
    const connecting = new Progress(`[b mosquitto ${transport}] connect`, options.devices);
    await fleet.connect(specsFor(run, options.devices), (n) => connecting.update(n));
    connecting.done();
    publisher = await RawPublisher.open(broker, transport, `${run}-publisher`);
    for (const rate of options.rates) {
      const mode = rate === 0 ? 'full' : String(rate);
      const total = rate === 0 ? options.messages : Math.round((rate * options.durationMs) / 1000);
      const current: RunState = { prefix: `${mode}-`, sentAt: new Float64Array(total), received: [] };
      state = current;
      const progress = new Progress(`[b mosquitto ${transport} ${mode}] received`, total);
      const ticker = setInterval(() => progress.update(current.received.length), 200);
      const cpu = await measureCpu([
        { role: 'server', pid: broker.pid },
        ...fleet.pids.map((pid, w) => ({ role: `simulator ${w + 1}`, pid })),
        { role: 'bench (sender, feed)', pid: process.pid },
      ]);
      const random = seededRandom(options.seed);
      const started = performance.now();
      const p = publisher;
      const publish = (i: number): void => {
        current.sentAt[i] = epochNow();
        p.publish(deviceTopic(`${run}-${Math.floor(random() * options.devices)}`), `${mode}-${i}`);
      };
      let sent = 0;
      if (rate === 0) {
        // Full speed keeps 1,000 publishes awaiting their PUBACK, the broker's answer that it took them.
        while (sent < total) {
          await p.below(1000);
          const room = Math.min(total - sent, 1000 - p.inFlight);
          for (let k = 0; k < room; k++) publish(sent++);
          p.flush();
        }
      } else {
        const t0 = performance.now();
        while (sent < total) {
          const owed = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
          while (sent < owed) publish(sent++);
          p.flush();
          await sleep(10);
        }
      }
      await p.drained();
      const deadline = started + 30_000 + total;
      while (current.received.length < total && performance.now() < deadline) await sleep(5);
      const elapsedMs = performance.now() - started;
      const shares = await cpu.stop();
      clearInterval(ticker);
      progress.update(current.received.length);
      progress.done();
      results.push({
        transport,
        client: 'lean',
        mode,
        devices: options.devices,
        messages: total,
        received: current.received.length,
        elapsedMs: Math.round(elapsedMs),
        throughputPerSec: Math.round((current.received.length / elapsedMs) * 1000),
        sendToDeviceMs: summarise(current.received),
        cpu: shares.cpu,
        cpuWindowMs: shares.windowMs,
        acked: current.received.length,
      });
      state = undefined;
      await sleep(500);
    }
  } finally {
    publisher?.close();
    await fleet.close();
  }
  return results;
}

function open(url: string, clientId: string, clean: boolean): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, {
      clientId,
      clean,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 60,
      rejectUnauthorized: false,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

/**
 * Full speed through mqtt.js clients, one per device, all in the bench process (the bench's former
 * Mosquitto client): beside the lean run, it shows what a general client costs the machine.
 */
export async function runMosquittoMqttJs(
  broker: MosquittoProcess,
  transport: MqttTransport,
  options: Pick<MosquittoDeliveryOptions, 'devices' | 'messages' | 'seed'>,
): Promise<MosquittoDeliveryResult> {
  const url = `${transport}://127.0.0.1:${portOf(broker, transport)}`;
  const run = `j${process.pid}${Date.now().toString(36)}`;
  const total = options.messages;
  const sentAt = new Float64Array(total);
  const received: number[] = [];
  const clients: MqttClient[] = [];
  const onMessage = (_topic: string, payload: Buffer): void => {
    const index = Number(payload.toString('utf8'));
    const sent = sentAt[index];
    if (sent === undefined || Number.isNaN(sent)) return;
    received.push(performance.now() - sent);
    sentAt[index] = Number.NaN;
  };
  const connecting = new Progress(`[b mqtt.js ${transport}] connect`, options.devices);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= options.devices) return;
      const client = await open(url, `${run}-${i}`, false);
      clients.push(client);
      client.on('message', onMessage);
      await client.subscribeAsync(`bench/${run}/${i}`, { qos: 1 });
      connecting.update(clients.length);
    }
  };
  let publisher: MqttClient | undefined;
  try {
    await Promise.all(Array.from({ length: 100 }, worker));
    connecting.done();
    publisher = await open(url, `${run}-publisher`, true);
    const pub = publisher;
    const cpu = await measureCpu([
      { role: 'server', pid: broker.pid },
      { role: 'bench (sender, feed)', pid: process.pid },
    ]);
    const progress = new Progress(`[b mqtt.js ${transport} full] received`, total);
    const ticker = setInterval(() => progress.update(received.length), 200);
    const random = seededRandom(options.seed);
    const started = performance.now();
    const inFlight: Promise<unknown>[] = [];
    for (let sent = 0; sent < total; sent++) {
      sentAt[sent] = performance.now();
      const topic = `bench/${run}/${Math.floor(random() * options.devices)}`;
      inFlight.push(pub.publishAsync(topic, String(sent), { qos: 1 }));
      if (inFlight.length >= 1000) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const deadline = started + 30_000 + total;
    while (received.length < total && performance.now() < deadline) await sleep(5);
    const elapsedMs = performance.now() - started;
    const shares = await cpu.stop();
    clearInterval(ticker);
    progress.update(received.length);
    progress.done();
    return {
      transport,
      client: 'mqtt.js',
      mode: 'full',
      devices: options.devices,
      messages: total,
      received: received.length,
      elapsedMs: Math.round(elapsedMs),
      throughputPerSec: Math.round((received.length / elapsedMs) * 1000),
      sendToDeviceMs: summarise(received),
      cpu: shares.cpu,
      cpuWindowMs: shares.windowMs,
      acked: received.length,
    };
  } finally {
    await publisher?.endAsync(true);
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}
