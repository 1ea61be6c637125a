/**
 * A device behind a silent partition, for real: the server from startServer on port 0, a DeviceClient
 * (or `localpush listen`) connecting through a loopback proxy that is switched to drop every byte in both
 * directions while holding both sockets open. Nothing tells either side that the link is gone; the
 * client's own heartbeat deadline has to. Every wait is on an event (a state change, a push); nothing is
 * timed. Over TLS, plain TCP, WebSocket and secure WebSocket.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import {
  ClientErrorCode,
  DeviceClient,
  type ClientError,
  type ClientState,
  type DeviceClientOptions,
} from '@localpush/client';
import { ManualClock, type Push } from '@localpush/protocol';
import { startServer, type RunningServer } from '@localpush/server';
import { addDevice, waitForState, waitUntil } from '../../../server/test/helpers/e2e.js';
import { cli } from '../helpers/run.js';
import { PartitionProxy } from '../../../server/test/helpers/partition-proxy.js';

type Transport = 'tls' | 'tcp' | 'ws' | 'wss';
const TRANSPORTS: readonly Transport[] = ['tls', 'tcp', 'ws', 'wss'];
/** The smallest heartbeat the server accepts, so that the real timers run out quickly. */
const HEARTBEAT = { heartbeatIntervalMs: 1_000, heartbeatGraceMs: 500 } as const;

interface Rig {
  server: RunningServer;
  proxy: PartitionProxy;
  /** Options for a client of device `device-1` that connects through the proxy. */
  clientOptions: Omit<DeviceClientOptions, 'onPush' | 'url'> & { url: string };
}

/** A server with one listener of `transport`, a proxy in front of it and an enrolled device. */
async function rig(t: TestContext, transport: Transport): Promise<Rig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-partition-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    tcpPort: transport === 'tcp' ? 0 : null,
    wsPort: transport === 'ws' || transport === 'wss' ? 0 : null,
    wsTls: transport === 'wss',
    apiPort: 0,
    store: 'memory',
    logLevel: 'silent',
    ...HEARTBEAT,
  });
  const address =
    transport === 'tcp'
      ? server.addresses.tcp
      : transport === 'tls'
        ? server.addresses.tls
        : server.addresses.ws;
  assert.ok(address);
  const proxy = await PartitionProxy.start({ port: address.port });
  t.after(async () => {
    await proxy.close();
    await server.close({ drainTimeoutMs: 200 });
    await rm(dataDir, { recursive: true, force: true });
  });
  const { credential } = await addDevice(server, 'device-1');
  const path = transport === 'ws' || transport === 'wss' ? '/v1/connect' : '';
  const clientOptions: Rig['clientOptions'] = {
    url: `${transport}://127.0.0.1:${proxy.port}${path}`,
    deviceId: 'device-1',
    credential,
    backoff: { initialMs: 100, maxMs: 1_000 },
    ...(transport === 'tls' || transport === 'wss' ? { pin: server.identity.spkiPin } : {}),
    ...(transport === 'ws' || transport === 'wss' ? { webSocket: WebSocket } : {}),
  };
  return { server, proxy, clientOptions };
}

/** Resolves with the state the client moves to when it leaves `connected`. */
function leavesConnected(client: DeviceClient): Promise<ClientState> {
  return new Promise((resolve) => {
    const onState = (state: ClientState, previous: ClientState): void => {
      if (previous !== 'connected') return;
      client.off('state', onState);
      resolve(state);
    };
    client.on('state', onState);
  });
}

/** Resolves with the first push the client hands to the app. */
function nextPush(client: DeviceClient): Promise<Push> {
  return once(client, 'push').then(([push]) => push as Push);
}

for (const transport of TRANSPORTS) {
  test(`${transport}: a client behind a silent partition reconnects by itself and gets what was sent meanwhile`, async (t) => {
    const { server, proxy, clientOptions } = await rig(t, transport);
    const errors: ClientError[] = [];
    const client = new DeviceClient(clientOptions);
    client.on('connectionError', (error) => errors.push(error));
    t.after(() => client.stop());
    client.start();
    await waitForState(client, 'connected');
    // Cut the link just after a heartbeat was answered: the server still counts the device as online for
    // a whole interval, so the push below is written into a connection that no longer leads anywhere.
    await once(client, 'heartbeat');
    proxy.partition();
    const left = leavesConnected(client);
    const outcome = await server.engine.submit({
      deviceId: 'device-1',
      kind: 'message',
      payload: { during: 'partition' },
      priority: 10,
    });
    assert.ok(['sent', 'queued'].includes(outcome.status), outcome.status);

    assert.equal(await left, 'backoff');
    assert.ok(
      errors.some((e) => e.code === ClientErrorCode.HEARTBEAT_TIMEOUT),
      errors.map((e) => e.code).join(', '),
    );
    const arrived = nextPush(client);
    proxy.heal();
    const push = await arrived;
    assert.equal(push.id, outcome.id);
    assert.deepEqual(push.payload, { during: 'partition' });
    await waitUntil(async () => (await server.engine.status(outcome.id))?.message.state === 'acked');
    assert.ok(proxy.dropped.down + proxy.dropped.up >= 0);
  });
}

test('localpush listen: after a silent partition it reconnects and prints what was sent meanwhile', async (t) => {
  const { server, proxy, clientOptions } = await rig(t, 'tls');
  const listen = cli([
    'listen',
    '--device',
    'device-1',
    '--credential',
    clientOptions.credential,
    '--url',
    clientOptions.url,
    '--pin',
    server.identity.spkiPin,
  ]);
  t.after(async () => {
    listen.interrupt();
    await listen.code;
  });
  await waitUntil(() => server.gateway.isOnline('device-1'));
  const first = await server.engine.submit({
    deviceId: 'device-1',
    kind: 'message',
    payload: 'before',
    priority: 10,
  });
  await listen.waitFor(new RegExp(first.id));
  proxy.partition();
  const during = await server.engine.submit({
    deviceId: 'device-1',
    kind: 'message',
    payload: 'during',
    priority: 10,
  });
  // The server's own deadline frees the dead session; the listener has to notice by itself too.
  await waitUntil(() => !server.gateway.isOnline('device-1'));
  proxy.heal();
  assert.match(await listen.waitFor(new RegExp(during.id)), /"during"/);
  await waitUntil(async () => (await server.engine.status(during.id))?.message.state === 'acked');
  assert.match(listen.stderr.join(''), /LP_CLIENT_HEARTBEAT_TIMEOUT/);
});

// The siblings: every other wait on the server has a deadline too. The client runs on a ManualClock, so
// the deadlines are crossed by advancing it, never by waiting.
for (const transport of TRANSPORTS) {
  test(`${transport}: partitioned before the connection is up, the attempt ends at its deadline`, async (t) => {
    const { proxy, clientOptions } = await rig(t, transport);
    proxy.partition();
    const clock = new ManualClock();
    const errors: ClientError[] = [];
    const client = new DeviceClient({ ...clientOptions, clock, connectTimeoutMs: 5_000 });
    client.on('connectionError', (error) => errors.push(error));
    t.after(() => client.stop());
    const backoff = waitForState(client, 'backoff');
    client.start();
    // Plain TCP reaches the proxy at once and sends its hello; the others wait in their handshake.
    if (transport === 'tcp') await waitForState(client, 'handshaking');
    clock.advance(5_000);
    await backoff;
    const expected = transport === 'tcp' ? ClientErrorCode.WELCOME_TIMEOUT : ClientErrorCode.CONNECT_TIMEOUT;
    assert.deepEqual(
      errors.map((e) => e.code),
      [expected],
    );
  });

  test(`${transport}: stop() during a partition finishes though the close can never complete`, async (t) => {
    const { proxy, clientOptions } = await rig(t, transport);
    const clock = new ManualClock();
    const client = new DeviceClient({ ...clientOptions, clock });
    client.start();
    await waitForState(client, 'connected');
    proxy.partition();
    let finished = false;
    const stopped = client.stop().then(() => (finished = true));
    // The graceful close is queued into the black hole; nothing answers it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(finished, false);
    clock.advance(2_000);
    await stopped;
    assert.equal(client.state, 'stopped');
  });
}

// The built-in WHATWG WebSocket (Node 22+) cannot be torn down at once: its close waits for a handshake
// that a dead link never completes, so stop() must stop waiting for it.
test('ws with the built-in WebSocket: stop() during a partition finishes', async (t) => {
  const builtin = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (builtin === undefined) {
    t.skip('this Node has no global WebSocket (Node 20 without --experimental-websocket); runs on 22 and 24');
    return;
  }
  const { proxy, clientOptions } = await rig(t, 'ws');
  const clock = new ManualClock();
  const { webSocket: _ws, ...rest } = clientOptions;
  const client = new DeviceClient({ ...rest, clock });
  client.start();
  await waitForState(client, 'connected');
  proxy.partition();
  const stopped = client.stop();
  await new Promise<void>((resolve) => setImmediate(resolve));
  clock.advance(2_000);
  await stopped;
  assert.equal(client.state, 'stopped');
});

test('liveness: false leaves the check to the host: isStale() turns true and reconnect() recovers', async (t) => {
  const { server, proxy, clientOptions } = await rig(t, 'tls');
  const clock = new ManualClock();
  const client = new DeviceClient({ ...clientOptions, clock, liveness: false, random: () => 0.5 });
  t.after(() => client.stop());
  client.start();
  await waitForState(client, 'connected');
  proxy.partition();
  const outcome = await server.engine.submit({
    deviceId: 'device-1',
    kind: 'alert',
    payload: 'while silent',
    priority: 10,
  });
  // Far past interval + grace: without its own deadline the client is still "connected"…
  clock.advance(HEARTBEAT.heartbeatIntervalMs + HEARTBEAT.heartbeatGraceMs + 1);
  assert.equal(client.state, 'connected');
  assert.equal(client.isStale(), false);
  // …until the host's periodic check (the provider's 60 s timer) finds it stale and reconnects it.
  clock.advance(HEARTBEAT.heartbeatIntervalMs);
  assert.equal(client.isStale(), true);
  proxy.heal();
  const arrived = nextPush(client);
  client.reconnect();
  assert.equal((await arrived).id, outcome.id);
});
