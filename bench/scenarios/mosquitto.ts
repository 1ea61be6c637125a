/**
 * The same workloads against Mosquitto, what a user would pick instead: one MQTT client per device,
 * QoS 1, a topic per device, persistent sessions (clean: false). MQTT has no receipt feed, so delivery
 * latency is measured in the bench process from the publish call to the message reaching the subscriber —
 * the same "bench view" the localpush delivery run reports, which is what the ratios compare.
 */
import { readFile } from 'node:fs/promises';
import { connect, type MqttClient } from 'mqtt';
import { seededRandom } from '../../packages/server/test/crash/harness.js';
import { readRss } from '../lib/server.js';
import { Progress, sleep, summarise, type LatencySummary } from '../lib/stats.js';

export const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';

export interface MosquittoDeliveryResult {
  mode: string;
  devices: number;
  messages: number;
  received: number;
  elapsedMs: number;
  throughputPerSec: number;
  sendToDeviceMs: LatencySummary;
}

export interface MosquittoConnectResult {
  devices: number;
  connectMs: number;
  connectionsPerSec: number;
  /**
   * Null when the broker's pid or /proc status cannot be read, or when its RSS grew by less than 64 KiB: the broker is
   * long-lived and shared, and reuses memory freed by earlier clients (of earlier runs) before growing.
   */
  rssPerConnectionBytes: number | null;
}

/** Below this growth of the broker's RSS the figure is page-granularity noise, not a per-connection cost. */
const MIN_GROWTH = 64 * 1024;

/** Sessions expire a minute after the bench leaves, so repeated runs do not pile them up in the broker. */
const SESSION_EXPIRY_S = 60;

function open(clientId: string, clean: boolean): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(MOSQUITTO_URL, {
      clientId,
      clean,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 60,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

/** True when a broker answers on 127.0.0.1:1883 within two seconds. */
export async function mosquittoAvailable(): Promise<boolean> {
  try {
    const probe = await Promise.race([
      open(`bench-probe-${process.pid}`, true),
      sleep(2_000).then(() => {
        throw new Error('timeout');
      }),
    ]);
    await probe.endAsync();
    return true;
  } catch {
    return false;
  }
}

async function brokerRss(): Promise<number | null> {
  try {
    const pid = Number((await readFile('/run/mosquitto/mosquitto.pid', 'utf8')).trim());
    return await readRss(pid);
  } catch {
    return null;
  }
}

interface Subscribers {
  clients: MqttClient[];
  connectMs: number;
}

/** Connects and subscribes one client per device (topic bench/<run>/<i>), a hundred at a time. */
async function subscribeAll(
  run: string,
  devices: number,
  label: string,
  onMessage: (topic: string, payload: Buffer) => void,
): Promise<Subscribers> {
  const clients: MqttClient[] = [];
  const progress = new Progress(label, devices);
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= devices) return;
      const client = await open(`bench-${run}-${i}`, false);
      clients.push(client);
      client.on('message', onMessage);
      await client.subscribeAsync(`bench/${run}/${i}`, { qos: 1 });
      progress.update(clients.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: 100 }, worker));
  } catch (error) {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    throw error;
  }
  progress.done();
  return { clients, connectMs: performance.now() - started };
}

export async function runMosquittoConnect(devices: number, holdMs: number): Promise<MosquittoConnectResult> {
  const run = `c${process.pid}${Date.now().toString(36)}`;
  const before = await brokerRss();
  const subs = await subscribeAll(run, devices, '[a mqtt] connect', () => {});
  try {
    await sleep(holdMs);
    const after = await brokerRss();
    return {
      devices,
      connectMs: Math.round(subs.connectMs),
      connectionsPerSec: Math.round((devices / subs.connectMs) * 1000),
      rssPerConnectionBytes:
        before === null || after === null || after - before < MIN_GROWTH
          ? null
          : Math.round((after - before) / devices),
    };
  } finally {
    await Promise.all(subs.clients.map((c) => c.endAsync(true)));
  }
}

export interface MosquittoDeliveryOptions {
  devices: number;
  messages: number;
  rates: readonly number[];
  durationMs: number;
  seed: number;
}

export async function runMosquittoDelivery(
  options: MosquittoDeliveryOptions,
): Promise<MosquittoDeliveryResult[]> {
  const run = `d${process.pid}${Date.now().toString(36)}`;
  let sentAt = new Float64Array(0);
  let received: number[] = [];
  let target = 0;
  let allReceived: () => void = () => {};
  const subs = await subscribeAll(run, options.devices, '[b mqtt] connect', (_topic, payload) => {
    const index = Number(payload.toString('utf8'));
    const sent = sentAt[index];
    // QoS 1 is at least once: a duplicate is not a second delivery.
    if (sent === undefined || Number.isNaN(sent)) return;
    received.push(performance.now() - sent);
    sentAt[index] = Number.NaN;
    if (received.length === target) allReceived();
  });
  const publisher = await open(`bench-${run}-publisher`, true);
  const results: MosquittoDeliveryResult[] = [];
  try {
    for (const rate of options.rates) {
      const mode = rate === 0 ? 'full' : String(rate);
      target = rate === 0 ? options.messages : Math.round((rate * options.durationMs) / 1000);
      sentAt = new Float64Array(target);
      received = [];
      const done = new Promise<void>((resolve) => (allReceived = resolve));
      const progress = new Progress(`[b mqtt ${mode}] received`, target);
      const ticker = setInterval(() => progress.update(received.length), 200);
      const random = seededRandom(options.seed);
      const started = performance.now();
      const publish = (i: number): Promise<unknown> => {
        sentAt[i] = performance.now();
        const topic = `bench/${run}/${Math.floor(random() * options.devices)}`;
        return publisher.publishAsync(topic, String(i), { qos: 1 });
      };
      const sending = (async () => {
        const inFlight: Promise<unknown>[] = [];
        let sent = 0;
        // Full speed keeps 1,000 publishes awaiting their PUBACK, the broker's answer that it took them.
        if (rate === 0) {
          while (sent < target) {
            inFlight.push(publish(sent++));
            if (inFlight.length >= 1000) await inFlight.shift();
          }
        } else {
          const t0 = performance.now();
          while (sent < target) {
            const owed = Math.min(target, Math.floor(((performance.now() - t0) / 1000) * rate));
            while (sent < owed) inFlight.push(publish(sent++));
            await sleep(10);
          }
        }
        await Promise.all(inFlight);
      })();
      const limitMs = 30_000 + target;
      const timedOut = await Promise.race([
        Promise.all([sending, done]).then(() => false),
        sleep(limitMs).then(() => true),
      ]);
      const elapsedMs = performance.now() - started;
      clearInterval(ticker);
      progress.update(received.length);
      progress.done();
      if (timedOut) process.stderr.write(`[b mqtt ${mode}] stopped after ${limitMs} ms\n`);
      results.push({
        mode,
        devices: options.devices,
        messages: target,
        received: received.length,
        elapsedMs: Math.round(elapsedMs),
        throughputPerSec: Math.round((received.length / elapsedMs) * 1000),
        sendToDeviceMs: summarise(received),
      });
      await sleep(500);
    }
  } finally {
    await publisher.endAsync(true);
    await Promise.all(subs.clients.map((c) => c.endAsync(true)));
  }
  return results;
}
