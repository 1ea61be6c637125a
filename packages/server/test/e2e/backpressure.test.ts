/**
 * Back-pressure for real [LP-7.2, LP-7.3]: the server from startServer on port 0, devices over real
 * loopback sockets. A device that comes back to a large backlog gets all of it, in order, on one
 * connection, with no slow-consumer drop — over TLS, plain TCP and secure WebSocket; ten thousand small
 * pushes drain the same way; and a device whose socket stops reading is dropped as a slow consumer after
 * the no-progress time while a healthy device beside it keeps receiving. Every wait is on an event.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import { test, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { DeviceClient, type ClientError, type ClientState } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import type { ServerConfig } from '../../src/config.js';
import type { RunningServer } from '../../src/server.js';
import { addDevice, waitForState } from '../helpers/e2e.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';
import { RawPeer } from '../helpers/raw-peer.js';

type Transport = 'tls' | 'tcp' | 'wss';

async function serverFor(t: TestContext, config: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const loopback = await startLoopbackServer('localpush-backpressure-', {
    tcpPort: 0,
    wsPort: 0,
    wsTls: true,
    ...config,
  });
  t.after(() => loopback.close());
  return loopback.server;
}

/** How many connections the server closed as slow consumers so far (its metrics). */
async function slowConsumerDrops(server: RunningServer): Promise<number> {
  const response = await server.api.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${server.providerKey}` },
  });
  assert.equal(response.statusCode, 200, response.body);
  assert.match(response.body, /localpush_connections_closed_total/);
  const line = response.body
    .split('\n')
    .find((l) => l.startsWith('localpush_connections_closed_total{reason="LP_SLOW_CONSUMER"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

function clientFor(server: RunningServer, transport: Transport, deviceId: string, credential: string) {
  const address =
    transport === 'tls'
      ? server.addresses.tls
      : transport === 'tcp'
        ? server.addresses.tcp
        : server.addresses.ws;
  assert.ok(address);
  const received: Push[] = [];
  const states: ClientState[] = [];
  const errors: ClientError[] = [];
  const watchers = new Set<() => void>();
  const client = new DeviceClient({
    url: `${transport}://127.0.0.1:${address.port}${transport === 'wss' ? '/v1/connect' : ''}`,
    deviceId,
    credential,
    ...(transport === 'tcp' ? {} : { pin: server.identity.spkiPin }),
    ...(transport === 'wss' ? { webSocket: WebSocket } : {}),
    onPush: (push) => {
      received.push(push);
      for (const watcher of [...watchers]) watcher();
    },
  });
  client.on('state', (state) => states.push(state));
  client.on('connectionError', (error) => errors.push(error));
  /** Resolves once `count` pushes were handed to the app. */
  const receivedAll = (count: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (received.length < count) return;
        watchers.delete(check);
        resolve();
      };
      watchers.add(check);
      check();
    });
  return { client, received, states, errors, receivedAll };
}

/** Queues `count` messages for an offline device, each with a payload of `bytes` characters. */
async function queue(server: RunningServer, deviceId: string, count: number, bytes: number): Promise<void> {
  const filler = 'x'.repeat(bytes);
  const outcomes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      server.engine.submit({
        deviceId,
        id: `${deviceId}-${i + 1}`,
        kind: 'message',
        payload: { n: i + 1, filler },
        priority: 10,
      }),
    ),
  );
  assert.ok(outcomes.every((o) => o.status === 'queued'));
}

/** Resolves when the device's session closes on the server (the session directory tells it). */
function sessionClosed(server: RunningServer, deviceId: string): Promise<void> {
  return new Promise((resolve) => {
    server.gateway.presence.subscribe({
      sessionOpened: () => {},
      sessionClosed: (session) => {
        if (session.deviceId === deviceId) resolve();
      },
    });
  });
}

const BACKLOG_COUNT = 104; // 104 × 50 KB > 5 MiB

for (const transport of ['tls', 'tcp', 'wss'] as const) {
  test(`${transport}: a device coming back to 5 MiB of 50 KB pushes gets all of them, in order, on one connection`, async (t) => {
    const server = await serverFor(t);
    const { credential } = await addDevice(server, 'backlog');
    await queue(server, 'backlog', BACKLOG_COUNT, 50_000);
    const dropsBefore = await slowConsumerDrops(server);
    const device = clientFor(server, transport, 'backlog', credential);
    t.after(() => device.client.stop());
    device.client.start();
    await device.receivedAll(BACKLOG_COUNT);
    assert.deepEqual(
      device.received.map((p) => p.seq),
      Array.from({ length: BACKLOG_COUNT }, (_, i) => i + 1),
    );
    assert.deepEqual(
      device.errors.map((e) => e.code),
      [],
    );
    assert.deepEqual(device.states, ['connecting', 'handshaking', 'connected'], 'one connection throughout');
    assert.equal((await slowConsumerDrops(server)) - dropsBefore, 0);
    await device.client.stop();
  });
}

test('tls: ten thousand small pushes drain, in order, on one connection', async (t) => {
  const server = await serverFor(t, { maxQueuePerDevice: 20_000 });
  const { credential } = await addDevice(server, 'many');
  await queue(server, 'many', 10_000, 10);
  const device = clientFor(server, 'tls', 'many', credential);
  t.after(() => device.client.stop());
  device.client.start();
  await device.receivedAll(10_000);
  assert.ok(device.received.every((p, i) => p.seq === i + 1));
  assert.deepEqual(device.states, ['connecting', 'handshaking', 'connected']);
  assert.equal(await slowConsumerDrops(server), 0);
  await device.client.stop();
});

test('a device whose socket stops reading is dropped as a slow consumer; a healthy one beside it keeps receiving', async (t) => {
  const server = await serverFor(t, { slowConsumerTimeoutMs: 500 });
  const paused = await addDevice(server, 'paused');
  const healthy = await addDevice(server, 'healthy');
  const socket = tls.connect({
    host: '127.0.0.1',
    port: server.addresses.tls.port,
    rejectUnauthorized: false,
  });
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  const peer = new RawPeer(socket);
  await peer.hello('paused', paused.credential);
  const device = clientFor(server, 'tls', 'healthy', healthy.credential);
  t.after(() => device.client.stop());
  device.client.start();
  await waitForState(device.client, 'connected');

  // The paused device stops reading: what the server writes piles up in the kernel's buffers, its window
  // fills, it answers no heartbeat and acknowledges nothing.
  socket.pause();
  const closed = sessionClosed(server, 'paused');
  const filler = 'x'.repeat(50_000);
  const sends = Array.from({ length: 40 }, (_, i) =>
    server.engine.submit({
      deviceId: 'paused',
      kind: 'message',
      payload: { n: i, filler },
      priority: 10,
    }),
  );
  // Meanwhile the healthy device gets a push after every one of these, and all of them arrive.
  for (let i = 1; i <= 20; i++) {
    await server.engine.submit({ deviceId: 'healthy', kind: 'message', payload: { i }, priority: 10 });
    await device.receivedAll(i);
  }
  await Promise.all(sends);
  await closed;
  assert.equal(await slowConsumerDrops(server), 1, 'the paused device was dropped as a slow consumer');
  assert.equal(server.gateway.isOnline('healthy'), true);
  await server.engine.submit({ deviceId: 'healthy', kind: 'message', payload: { i: 21 }, priority: 10 });
  await device.receivedAll(21);
  assert.deepEqual(device.states, ['connecting', 'handshaking', 'connected']);
  // What the paused device was sent stays queued for its next session.
  const kept = await server.engine.listMessages('paused', { limit: 100 });
  assert.equal(kept.filter((m) => m.state === 'sent' || m.state === 'queued').length, 40);
  await device.client.stop();
});
