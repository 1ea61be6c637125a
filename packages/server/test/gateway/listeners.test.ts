/**
 * The transports over real loopback sockets on port 0: TLS (with the plaintext sniffing in front of it),
 * WebSocket, and plain TCP — and the data directory's identity that the TLS listener serves.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { FrameDecoder, decodeServerMessage, encodeMessage, frame, type Hello } from '@localpush/protocol';
import { WebSocket } from 'ws';
import type { Gateway } from '../../src/gateway/gateway.js';
import { listenTcp, listenTls, listenWebSocket, type Listener } from '../../src/gateway/listeners.js';
import {
  loadOrCreateIdentity,
  loadOrCreateProviderKey,
  spkiPin,
  type ServerIdentity,
} from '../../src/identity.js';
import { loopbackGateway, type LoopbackGateway } from '../helpers/loopback-gateway.js';
import { RawPeer } from '../helpers/raw-peer.js';

const hello: Hello = { type: 'hello', version: 1, deviceId: 'd1', credential: 'good', capabilities: [] };

describe('device listeners on loopback', () => {
  let loop: LoopbackGateway;
  let dataDir: string;
  let identity: ServerIdentity;
  let gateway: Gateway;
  let listeners: Listener[];

  before(async () => {
    loop = await loopbackGateway('localpush-listeners-');
    ({ dataDir, identity, gateway, listeners } = loop);
  });

  after(() => loop.close());

  it('keeps the identity and provider key in the data directory, owner-only, and reuses them', async () => {
    assert.equal(identity.created, true);
    assert.equal((await stat(join(dataDir, 'server.key'))).mode & 0o777, 0o600);
    const again = await loadOrCreateIdentity(dataDir);
    assert.equal(again.created, false);
    assert.equal(again.spkiPin, identity.spkiPin);
    assert.equal(spkiPin(await readFile(join(dataDir, 'server.crt'), 'utf8')), identity.spkiPin);
    const key = await loadOrCreateProviderKey(dataDir);
    assert.match(key.key, /^lpk_[A-Za-z0-9_-]{43}$/);
    assert.equal((await loadOrCreateProviderKey(dataDir)).key, key.key);
  });

  it('serves TLS: a device pins the public key, says hello and is welcomed', async () => {
    const l = await listenTls(gateway, identity, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const socket = tls.connect({ host: '127.0.0.1', port: l.address.port, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const cert = socket.getPeerX509Certificate();
    assert.ok(cert);
    assert.equal(spkiPin(cert.toString()), identity.spkiPin);
    const peer = new RawPeer(socket);
    await peer.hello('d1', 'good');
    assert.equal(gateway.isOnline('d1'), true);
    socket.end();
    await peer.untilClosed();
  });

  it('answers plaintext on the TLS port with one readable LP_TLS_REQUIRED frame and closes', async () => {
    const l = await listenTls(gateway, identity, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const socket = net.connect(l.address.port, '127.0.0.1');
    const peer = new RawPeer(socket);
    peer.send(hello);
    assert.equal((await peer.next('error')).code, 'LP_TLS_REQUIRED');
    await peer.untilClosed();
  });

  it('drops garbage that starts like TLS but is not, and keeps serving', async () => {
    const l = await listenTls(gateway, identity, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const garbage = net.connect(l.address.port, '127.0.0.1');
    garbage.on('error', () => {});
    garbage.resume();
    // A handshake record holding a handshake message of a type that does not exist.
    garbage.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0xff, 0x00, 0x00, 0x00]));
    await once(garbage, 'close');
    const socket = tls.connect({ host: '127.0.0.1', port: l.address.port, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const peer = new RawPeer(socket);
    await peer.hello('d1', 'good');
    socket.destroy();
  });

  it('serves WebSocket: one message per protocol message, as text', async () => {
    const l = await listenWebSocket(gateway, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const ws = new WebSocket(`ws://127.0.0.1:${l.address.port}/v1/connect`);
    await once(ws, 'open');
    const messages: unknown[] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false);
      messages.push(decodeServerMessage(data));
    });
    ws.send(JSON.stringify(hello));
    while (messages.length === 0) await once(ws, 'message');
    assert.equal((messages[0] as { type: string }).type, 'welcome');
    ws.send('{not json');
    const [code] = (await once(ws, 'close')) as [number];
    assert.ok(code === 1000 || code === 1005, `close code ${code}`);
    assert.equal((messages[1] as { code?: string } | undefined)?.code, 'LP_FRAME_MALFORMED');
  });

  it('serves wss:// with the same identity', async () => {
    const l = await listenWebSocket(gateway, { host: '127.0.0.1', port: 0 }, { tls: identity });
    listeners.push(l);
    const ws = new WebSocket(`wss://127.0.0.1:${l.address.port}/v1/connect`, { rejectUnauthorized: false });
    await once(ws, 'open');
    ws.send(JSON.stringify(hello));
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(decodeServerMessage(data).type, 'welcome');
    ws.close();
    await once(ws, 'close');
  });

  it('serves plain TCP with the same framing', async () => {
    const l = await listenTcp(gateway, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const socket = net.connect(l.address.port, '127.0.0.1');
    const decoder = new FrameDecoder();
    socket.write(frame(encodeMessage(hello)));
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    const [payload] = decoder.push(chunk);
    assert.ok(payload);
    assert.equal(decodeServerMessage(payload).type, 'welcome');
    socket.destroy();
  });

  it('names the port and the fix when a port is taken', async () => {
    const l = await listenTcp(gateway, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    await assert.rejects(listenTcp(gateway, { host: '127.0.0.1', port: l.address.port }), {
      code: 'LP_LISTEN_FAILED',
      message: /EADDRINUSE.*port is taken/,
    });
  });
});
