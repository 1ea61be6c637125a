/**
 * Fixtures for "one world" tests: a whole server (memory store, SimplePush on, every port 0 on loopback),
 * SimplePush test clients pinned to its certificate, localpush devices over TLS or WebSocket, and the
 * HTTP calls a device or an application server makes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import { WebSocket } from 'ws';
import { startServer, type RunningServer } from '../../src/server.js';
import type { SpUser } from '../../src/simplepush/codec.js';
import { SimplePushTestClient, connectSimplePush } from '../../src/testing.js';

/** A started server and its temporary data directory. */
export interface World {
  server: RunningServer;
  api: string;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-world-'));
  const server = await startServer({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: 0,
    wsTls: false,
    apiPort: 0,
    store: 'memory',
    logLevel: 'silent',
    simplepush: { controlPort: 0, notificationPort: 0 },
  });
  const stops: (() => Promise<void> | void)[] = [];
  return {
    server,
    api: `http://127.0.0.1:${server.addresses.api.port}`,
    async close() {
      await server.close({ drainTimeoutMs: 500 });
      await rm(dataDir, { recursive: true, force: true });
      for (const stop of stops) await stop();
    },
  };
}

/** The sample's app and extension of one user, both registered. */
export async function simplePushUser(
  world: World,
  who: SpUser,
): Promise<{ app: SimplePushTestClient; ext: SimplePushTestClient; close(): void }> {
  const sp = world.server.simplepush;
  if (!sp) throw new Error('SimplePush is off');
  const make = (role: 'app' | 'extension', port: number): SimplePushTestClient => {
    const client = new SimplePushTestClient({
      role,
      user: who,
      connect: () => connectSimplePush({ host: '127.0.0.1', port, pin: sp.pin }),
    });
    client.start();
    return client;
  };
  const ext = make('extension', sp.listener.notification.port);
  await ext.until(() => ext.registered);
  const app = make('app', sp.listener.control.port);
  await app.until(() => app.registered);
  return {
    app,
    ext,
    close() {
      app.close();
      ext.close();
    },
  };
}

/** A localpush device (TLS or WebSocket) that records its pushes. */
export interface NativeDevice {
  id: string;
  credential: string;
  client: DeviceClient;
  pushes: Push[];
  /** Resolves with the first recorded push matching `where` (waiting for it if needed). */
  next(where: (push: Push) => boolean): Promise<Push>;
  stop(): Promise<void>;
}

export async function providerFetch(world: World, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${world.api}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${world.server.providerKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

export async function nativeDevice(
  world: World,
  id: string,
  label: string,
  transport: 'tls' | 'ws',
): Promise<NativeDevice> {
  const added = (await providerFetch(world, '/v1/devices', { id, label })) as { credential: string };
  const pushes: Push[] = [];
  const waiters = new Set<() => void>();
  const { tls, ws } = world.server.addresses;
  const client = new DeviceClient({
    url: transport === 'tls' ? `tls://127.0.0.1:${tls.port}` : `ws://127.0.0.1:${ws?.port ?? 0}/v1/connect`,
    deviceId: id,
    credential: added.credential,
    pin: world.server.identity.spkiPin,
    webSocket: WebSocket,
    backoff: { initialMs: 50, maxMs: 500 },
    onPush: (push) => {
      pushes.push(push);
      for (const w of [...waiters]) w();
    },
  });
  client.start();
  await until(() => world.server.gateway.isOnline(id));
  return {
    id,
    credential: added.credential,
    client,
    pushes,
    next: (where) =>
      new Promise((resolve) => {
        const check = (): void => {
          const index = pushes.findIndex(where);
          if (index < 0) return;
          waiters.delete(check);
          resolve(pushes.splice(index, 1)[0] as Push);
        };
        waiters.add(check);
        check();
      }),
    stop: () => client.stop(),
  };
}

/** A device's call to the chat routes, with its own credential. */
export async function chat(
  world: World,
  device: { id: string; credential: string },
  path: '/v1/chat/send' | '/v1/chat/directory',
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${world.api}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${device.id}:${device.credential}`).toString('base64')}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Polls `check` until true (real sockets: there is no event for every state of the world). */
export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
