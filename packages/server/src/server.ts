/**
 * Puts the server together: data directory and identity, store, delivery engine, device gateway and its
 * listeners, and the HTTP API. Everything is created here and passed down; nothing is a module singleton.
 */
import { join } from 'node:path';
import { ProtocolErrorCode, systemClock, type Clock } from '@localpush/protocol';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { resolveConfig, type ServerConfig } from './config.js';
import { createDeliveryEngine, type DeliveryEngineImpl } from './engine/engine.js';
import type { DeviceDirectory } from './engine/types.js';
import { createDeviceDirectory, verifyCredential } from './engine/devices.js';
import { Gateway } from './gateway/gateway.js';
import {
  listenTcp,
  listenTls,
  listenWebSocket,
  type ListenAddress,
  type Listener,
} from './gateway/listeners.js';
import { buildHttpApi } from './http/api.js';
import {
  ensureDataDir,
  loadOrCreateIdentity,
  loadOrCreateProviderKey,
  type ServerIdentity,
} from './identity.js';
import { createMetrics } from './metrics.js';
import { createMemoryStore, openSqliteStore } from './store/index.js';
import type { Store } from './store/types.js';

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
  /** Provider keys accepted besides the one kept in the data directory. */
  extraProviderKeys?: string[];
}

export interface RunningServer {
  readonly config: ServerConfig;
  readonly identity: ServerIdentity;
  readonly providerKey: string;
  readonly providerKeyCreated: boolean;
  readonly addresses: {
    tls: ListenAddress;
    ws: ListenAddress | null;
    tcp: ListenAddress | null;
    api: ListenAddress;
  };
  readonly gateway: Gateway;
  readonly engine: DeliveryEngineImpl;
  readonly store: Store;
  readonly api: FastifyInstance;
  /** Graceful stop: goaway to every device, drain, close listeners, flush the store. */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

export async function startServer(
  overrides: Partial<ServerConfig>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = resolveConfig(overrides);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: config.logLevel }, pino.destination(2));

  await ensureDataDir(config.dataDir);
  const identity = await loadOrCreateIdentity(config.dataDir);
  const provider = await loadOrCreateProviderKey(config.dataDir);
  const store =
    config.store === 'sqlite'
      ? await openSqliteStore({ path: join(config.dataDir, 'localpush.db') })
      : createMemoryStore();

  const listeners: Listener[] = [];
  let gateway: Gateway | undefined;
  const engine = createDeliveryEngine({
    store,
    clock,
    logger,
    options: {
      maxQueuePerDevice: config.maxQueuePerDevice,
      defaultTtlSeconds: config.defaultTtlSeconds,
      ackTimeoutMs: config.ackTimeoutMs,
    },
  });
  // The metrics read the gateway's counts lazily, so they can be created first and handed to it.
  const metrics = createMetrics({
    sessions: () => gateway?.sessionCount ?? 0,
    connections: () => gateway?.connectionCount ?? 0,
  });
  try {
    gateway = new Gateway({
      metrics,
      listener: engine,
      authenticate: (deviceId, credential) => verifyCredential(store, deviceId, credential),
      clock,
      logger,
      connection: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        heartbeatGraceMs: config.heartbeatGraceMs,
        helloTimeoutMs: config.helloTimeoutMs,
        maxFrameBytes: config.maxFrameBytes,
        maxWriteQueueBytes: config.maxWriteQueueBytes,
      },
    });
    const liveGateway = gateway;

    const baseDirectory = createDeviceDirectory({ store, clock, isOnline: (id) => liveGateway.isOnline(id) });
    const directory: DeviceDirectory = {
      ...baseDirectory,
      // A removed device loses its live connection at once, not at its next reconnect. [LP-4.4]
      async remove(id) {
        const removed = await baseDirectory.remove(id);
        if (removed)
          liveGateway.session(id)?.fail(ProtocolErrorCode.AUTH_FAILED, 'this device was removed [LP-4.4]');
        return removed;
      },
    };
    const api = buildHttpApi({
      engine,
      directory,
      providerKeys: [provider.key, ...(options.extraProviderKeys ?? [])],
      logger,
      clock,
    });
    api.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });

    const tls = await listenTls(gateway, identity, { host: config.host, port: config.tlsPort });
    listeners.push(tls);
    let ws: Listener | null = null;
    if (config.wsPort !== null) {
      ws = await listenWebSocket(
        gateway,
        { host: config.host, port: config.wsPort },
        config.wsTls ? { tls: identity } : {},
      );
      listeners.push(ws);
    }
    let tcp: Listener | null = null;
    if (config.tcpPort !== null) {
      tcp = await listenTcp(gateway, { host: config.host, port: config.tcpPort });
      listeners.push(tcp);
    }
    await api.listen({ host: config.apiHost, port: config.apiPort });
    const apiAddress = api.server.address();
    const apiBound =
      typeof apiAddress === 'object' && apiAddress !== null
        ? { host: apiAddress.address, port: apiAddress.port }
        : { host: config.apiHost, port: config.apiPort };

    let closing: Promise<void> | undefined;
    return {
      config,
      identity,
      providerKey: provider.key,
      providerKeyCreated: provider.created,
      addresses: { tls: tls.address, ws: ws?.address ?? null, tcp: tcp?.address ?? null, api: apiBound },
      gateway,
      engine,
      store,
      api,
      close(closeOptions = {}) {
        closing ??= (async () => {
          // Stop accepting first, but don't wait: a listener finishes closing only once its connections
          // are gone, and they go when the gateway's goaway and drain are done.
          const listenersClosed = Promise.all(listeners.map((l) => l.close()));
          await liveGateway.shutdown({ drainTimeoutMs: closeOptions.drainTimeoutMs ?? 5_000 });
          await listenersClosed;
          await api.close();
          await engine.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.all(listeners.map((l) => l.close()));
    await engine.close();
    await store.close();
    throw error;
  }
}
