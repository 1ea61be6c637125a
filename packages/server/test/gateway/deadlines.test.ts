/**
 * Deadlines that cannot be stretched (issue 11, item 3): on every listener of the real server — TLS, TCP,
 * ws, wss, SimplePush, the APNs endpoint's TLS and h2c — a connection that has not authenticated is closed
 * at one deadline counted from accept, however it spends the time: silent, one byte, or a ClientHello,
 * upgrade request or hello dripped one byte at a time faster than any idle timeout.
 *
 * The deadline is configured short (500 ms). The drip keeps going until the server closes the socket or
 * the drip runs out at eight deadlines; a socket still open then is the failure. Nothing is timed.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { encodeMessage, frame } from '@localpush/protocol';
import { startServer, type RunningServer } from '../../src/server.js';

const DEADLINE_MS = 500;
const TICK_MS = DEADLINE_MS / 5;
/** The drip gives up after this many bytes (eight deadlines): the server should have closed long before. */
const MAX_TICKS = 40;

let server: RunningServer;
let plainWs: RunningServer;
let dir: string;
let clientHello: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-deadlines-'));
  const common = {
    host: '127.0.0.1',
    apiPort: 0,
    tlsPort: 0,
    store: 'memory',
    logLevel: 'silent',
    helloTimeoutMs: DEADLINE_MS,
  } as const;
  server = await startServer({
    ...common,
    dataDir: join(dir, 'a'),
    wsPort: 0,
    tcpPort: 0,
    simplepush: { controlPort: 0, notificationPort: 0 },
    apnsPort: 0,
    apnsH2cPort: 0,
  });
  plainWs = await startServer({ ...common, dataDir: join(dir, 'b'), wsPort: 0, wsTls: false });
  clientHello = await captureClientHello();
});
after(async () => {
  await server.close({ drainTimeoutMs: 100 });
  await plainWs.close({ drainTimeoutMs: 100 });
  await rm(dir, { recursive: true, force: true });
});

/** The first flight of a real TLS client: a ClientHello, to be dripped. */
async function captureClientHello(): Promise<Buffer> {
  const sink = net.createServer();
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const first = once(sink, 'connection').then(async (args) => {
    const socket = args[0] as net.Socket;
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return chunk;
  });
  const client = tls.connect({ port: (sink.address() as net.AddressInfo).port, host: '127.0.0.1' });
  client.on('error', () => {});
  const hello = await first;
  client.destroy();
  sink.close();
  return hello;
}

type Dialer = () => net.Socket;

const tcp =
  (port: () => number | undefined): Dialer =>
  () =>
    net.connect({ host: '127.0.0.1', port: port() ?? 0 });
const overTls =
  (port: () => number | undefined, alpn?: string[]): Dialer =>
  () =>
    tls.connect({
      host: '127.0.0.1',
      port: port() ?? 0,
      rejectUnauthorized: false,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });

/**
 * Opens a connection and writes `bytes` one byte per tick (nothing when empty) until the server closes
 * it. Resolves with how many bytes went out before the close, or rejects when the drip ran out first.
 */
async function dripUntilClosed(dial: Dialer, bytes: Uint8Array): Promise<number> {
  const socket = dial();
  socket.on('error', () => {});
  socket.resume();
  const closed = once(socket, 'close');
  await Promise.race([once(socket, 'connect'), once(socket, 'secureConnect'), closed]);
  let sent = 0;
  let open = true;
  void closed.then(() => {
    open = false;
  });
  for (let tick = 0; tick < MAX_TICKS && open; tick++) {
    if (sent < bytes.length && socket.writable) socket.write(Buffer.from([bytes[sent++] ?? 0]));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, TICK_MS))]);
  }
  if (open) {
    socket.destroy();
    throw new Error(`still open after ${MAX_TICKS} ticks (${sent} bytes dripped)`);
  }
  return sent;
}

const upgrade = Buffer.from(
  'GET /v1/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
);
const helloFrame = (): Uint8Array =>
  frame(encodeMessage({ type: 'hello', version: 1, deviceId: 'nobody', credential: 'x', capabilities: [] }));
const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

describe('one deadline from accept to hello on every listener [LP-4.2]', () => {
  const cases: [string, Dialer, () => Uint8Array][] = [
    ['TLS port, silent', tcp(() => server.addresses.tls.port), () => new Uint8Array(0)],
    ['TLS port, one handshake byte', tcp(() => server.addresses.tls.port), () => clientHello.subarray(0, 1)],
    ['TLS port, a dripped ClientHello', tcp(() => server.addresses.tls.port), () => clientHello],
    ['TLS port, a dripped hello after the handshake', overTls(() => server.addresses.tls.port), helloFrame],
    ['TCP port, a dripped hello', tcp(() => server.addresses.tcp?.port), helloFrame],
    ['wss port, silent', tcp(() => server.addresses.ws?.port), () => new Uint8Array(0)],
    ['wss port, a dripped ClientHello', tcp(() => server.addresses.ws?.port), () => clientHello],
    ['wss port, dripped upgrade headers', overTls(() => server.addresses.ws?.port), () => upgrade],
    ['ws port, silent', tcp(() => plainWs.addresses.ws?.port), () => new Uint8Array(0)],
    ['ws port, dripped upgrade headers', tcp(() => plainWs.addresses.ws?.port), () => upgrade],
    [
      'SimplePush control port, a dripped ClientHello',
      tcp(() => server.simplepush?.listener.control.port),
      () => clientHello,
    ],
    [
      'SimplePush notification port, silent after the handshake',
      overTls(() => server.simplepush?.listener.notification.port),
      () => new Uint8Array(0),
    ],
    ['APNs endpoint TLS, a dripped ClientHello', tcp(() => server.addresses.apns?.port), () => clientHello],
    ['APNs endpoint h2c, a dripped preface', tcp(() => server.addresses.apnsH2c?.port), () => h2Preface],
  ];
  for (const [name, dial, bytes] of cases) {
    it(`closes: ${name}`, async () => {
      await dripUntilClosed(dial, bytes());
    });
  }
});
