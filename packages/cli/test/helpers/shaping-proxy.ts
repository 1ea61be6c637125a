/**
 * A framing-aware delay-and-drop proxy on loopback: the known network of the shaped-link test. Between a
 * device and a server speaking plain tcp:// it reads the stream as localpush frames [LP-2.1] and
 *  - delays every server → device frame by `delayMs` plus a jitter drawn uniformly from
 *    [0, `jitterMs`) by a seeded generator (so a run can be repeated), keeping the stream's order as TCP
 *    would;
 *  - drops exactly `probeDropShare` of the device's `probe` frames [LP-10.2] (the k-th probe is dropped
 *    when ⌊(k+1)·share⌋ > ⌊k·share⌋), and passes every other frame at once.
 * What it imposed on a probe's round trip: median delayMs + jitterMs/2, 99th percentile
 * delayMs + 0.99·jitterMs, jitter (mean absolute difference of successive round trips) jitterMs/3, loss
 * probeDropShare. netem would do this in the kernel; this kernel has none, and a test must not need root.
 */
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { FrameDecoder, frame } from '@localpush/protocol';
import { seededRandom } from '../../../client/test/helpers/wait.js';

export interface Shaping {
  delayMs: number;
  jitterMs: number;
  probeDropShare: number;
  /** Seed of the jitter's generator. */
  seed?: number;
}

export interface ShapingProxy {
  readonly port: number;
  /** Probes seen and dropped, server → device frames delayed. */
  readonly counts: { probes: number; dropped: number; delayed: number };
  close(): Promise<void>;
}

export async function startShapingProxy(target: { port: number }, shaping: Shaping): Promise<ShapingProxy> {
  const uniform = seededRandom(shaping.seed ?? 1);
  const counts = { probes: 0, dropped: 0, delayed: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((device) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    for (const s of [device, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        device.destroy();
        upstream.destroy();
      });
    }
    const up = new FrameDecoder(16 * 1024 * 1024);
    device.on('data', (chunk: Buffer) => {
      for (const payload of up.push(chunk)) {
        if (isProbe(payload)) {
          const k = counts.probes;
          counts.probes += 1;
          if (Math.floor((k + 1) * shaping.probeDropShare) > Math.floor(k * shaping.probeDropShare)) {
            counts.dropped += 1;
            continue;
          }
        }
        upstream.write(frame(payload));
      }
    });
    const down = new FrameDecoder(16 * 1024 * 1024);
    let lastDue = 0;
    upstream.on('data', (chunk: Buffer) => {
      for (const payload of down.push(chunk)) {
        const due = Math.max(lastDue, performance.now() + shaping.delayMs + uniform() * shaping.jitterMs);
        lastDue = due;
        counts.delayed += 1;
        setTimeout(() => device.write(frame(payload)), due - performance.now());
      }
    });
    device.on('end', () => upstream.end());
    upstream.on('end', () => setTimeout(() => device.end(), Math.max(0, lastDue - performance.now())));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isProbe(payload: Uint8Array): boolean {
  try {
    return (JSON.parse(Buffer.from(payload).toString('utf8')) as { type?: unknown }).type === 'probe';
  } catch {
    return false;
  }
}
