/**
 * Child-process entry of the floor scenario: the least a Node server can do to deliver a push over TLS
 * (or plain TCP) and take its ack — what the localpush server does minus everything that makes it a
 * product (authentication, storage, the engine, receipts, heartbeats, validation). It answers `hello`
 * with `welcome`, writes `push` frames on request and counts cumulative acks, with the same framing and
 * the same kind of certificate as the real server, so the bench's simulator talks to it unchanged.
 * Its throughput is the ceiling Node's own I/O puts on any server on this machine.
 *
 * Control, on 127.0.0.1 over HTTP: `POST /push?count=N` writes N pushes to random connected devices
 * (seeded) and answers at once; `GET /stats` gives `{ connected, pushed, acked }`. It prints
 * `{ tlsPort, tcpPort, controlPort }` as one JSON line when it listens, and leaves when stdin closes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import {
  FrameDecoder,
  PROTOCOL_VERSION,
  encodeMessage,
  frame,
  type Push,
  type Welcome,
} from '@localpush/protocol';
import { loadOrCreateIdentity } from '../../packages/server/src/identity.js';
import { seededRandom } from '../../packages/server/test/crash/harness.js';

/** What the floor server prints once it listens. */
export interface FloorServerInfo {
  tlsPort: number;
  tcpPort: number;
  controlPort: number;
}

interface Device {
  socket: Socket;
  seq: number;
  acked: number;
}

const devices: Device[] = [];
let pushed = 0;
let acked = 0;
const random = seededRandom(1);
const payload = { text: 'benchmark message' };

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  const device: Device = { socket, seq: 0, acked: 0 };
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    for (const bytes of decoder.push(chunk)) {
      const message = JSON.parse(Buffer.from(bytes).toString('utf8')) as { type: string; through?: number };
      if (message.type === 'hello') {
        devices.push(device);
        socket.write(frame(encodeMessage({ ...welcome, sessionId: `floor-${devices.length}` })));
      } else if (message.type === 'ack' && message.through !== undefined && message.through > device.acked) {
        acked += message.through - device.acked;
        device.acked = message.through;
      }
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    const at = devices.indexOf(device);
    if (at >= 0) devices.splice(at, 1);
  });
}

const welcome: Welcome = {
  type: 'welcome',
  version: PROTOCOL_VERSION,
  sessionId: '',
  heartbeatIntervalMs: 3_600_000,
  heartbeatGraceMs: 3_600_000,
  serverTime: Date.now(),
  maxFrameBytes: 65_536,
  capabilities: [],
};

function pushTo(device: Device): void {
  device.seq += 1;
  pushed += 1;
  const push = {
    type: 'push',
    id: `floor-${pushed}`,
    seq: device.seq,
    kind: 'message',
    payload,
    priority: 10,
    expiration: 0,
  } satisfies Push;
  device.socket.write(frame(encodeMessage(push)));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const dataDir = await mkdtemp(join(tmpdir(), 'localpush-floor-'));
const identity = await loadOrCreateIdentity(dataDir);
await rm(dataDir, { recursive: true, force: true });
const tlsServer = createTlsServer({ key: identity.key, cert: identity.cert, minVersion: 'TLSv1.2' }, serve);
const tcpServer = createNetServer({ noDelay: true }, serve);
const control = createHttpServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  if (request.method === 'POST' && url.pathname === '/push') {
    const count = Number(url.searchParams.get('count') ?? '0');
    if (devices.length > 0) {
      for (let i = 0; i < count; i++) {
        const device = devices[Math.floor(random() * devices.length)];
        if (device !== undefined) pushTo(device);
      }
    }
    response.end('{}');
    request.resume();
    return;
  }
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify({ connected: devices.length, pushed, acked }));
});
const info: FloorServerInfo = {
  tlsPort: await listen(tlsServer),
  tcpPort: await listen(tcpServer),
  controlPort: await listen(control),
};
process.stdout.write(`${JSON.stringify(info)}\n`);
process.stdin.once('end', () => process.exit(0));
process.stdin.resume();
