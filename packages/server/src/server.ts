/**
 * Puts the server together: data directory and identity, store, delivery engine, device gateway and its
 * listeners, and the HTTP API. Everything is created here and passed down; nothing is a module singleton.
 */
import { join } from 'node:path';
import { systemClock, type Clock } from '@localpush/protocol';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { resolveConfig, type ServerConfig } from './config.js';
import { LocalpushError, ServerErrorCode } from './errors.js';
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
import { registrationBundleId, type ApnsSender } from './apns/router.js';
import { startApnsService, type ApnsService } from './apns/service.js';
import { openDataDir } from './data-dir.js';
import { loadOrCreateIdentity, loadOrCreateProviderKey, type ServerIdentity } from './identity.js';
import { createMetrics } from './metrics.js';
import { openPresence } from './presence/cluster.js';
import { SimplePushBridge } from './simplepush/bridge.js';
import { registerChatRoutes } from './simplepush/bridge-routes.js';
import { SimplePushGateway } from './simplepush/gateway.js';
import { listenSimplePush, type SimplePushListener } from './simplepush/listen.js';
import { createMemoryStore, openRedisStore, openSqliteStore } from './store/index.js';
import type { Store } from './store/types.js';

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
  /** Provider keys accepted besides the one kept in the data directory. */
  extraProviderKeys?: string[];
  /** Adds routes to the HTTP API before it listens (the demo's page and enrolment route). */
  extendApi?: (api: FastifyInstance, parts: ServerParts) => void | Promise<void>;
  /** The APNs fallback, injected (tests aim an ApnsClient at the test peer); overrides `apnsFallback`. */
  apnsSender?: ApnsSender;
}

/** The parts {@link StartOptions.extendApi} may use. */
export interface ServerParts {
  engine: DeliveryEngineImpl;
  directory: DeviceDirectory;
  /** Present when SimplePush is on. */
  bridge: SimplePushBridge | null;
}

/** SimplePush compatibility, when turned on: the listeners, the bridge, and the pin for the sample. */
export interface RunningSimplePush {
  readonly listener: SimplePushListener;
  readonly bridge: SimplePushBridge;
  /** Base64 SHA-256 of the certificate's public key: paste it into the sample's app and extension. */
  readonly pin: string;
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
    /** The APNs-compatible endpoint (TLS: h2 + HTTP/1.1) and its h2c twin, when enabled. */
    apns: ListenAddress | null;
    apnsH2c: ListenAddress | null;
  };
  readonly gateway: Gateway;
  readonly engine: DeliveryEngineImpl;
  readonly store: Store;
  readonly api: FastifyInstance;
  /** SimplePush compatibility, or null when it is off (the default). */
  readonly simplepush: RunningSimplePush | null;
  /** The APNs side (token registry, router, endpoint), when `apnsPort` is set. */
  readonly apns: ApnsService | null;
  /** Graceful stop: goaway to every device, drain, close listeners, flush the store. */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/** The configured store: SQLite in the data directory, memory, or Redis (shared by every node). */
async function openStore(config: ServerConfig, logger: Logger): Promise<Store> {
  if (config.store === 'sqlite') {
    return openSqliteStore({
      path: join(config.dataDir, 'localpush.db'),
      synchronous: config.durability,
      // Where an older localpush kept the APNs tokens: imported once into the store.
      importApnsTokensFrom: join(config.dataDir, 'apns-tokens.db'),
      logger,
    });
  }
  if (config.store === 'memory') return createMemoryStore();
  if (config.redis === null) {
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      'store "redis" needs a Redis to connect to: --redis redis://host:port, redis+sentinel://… or redis+cluster://… (docs/cluster.md)',
    );
  }
  return openRedisStore({
    ...config.redis,
    prefix: config.redisPrefix,
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
    logger,
  });
}

// eslint-disable-next-line max-lines-per-function -- one of the eight long functions issue 12 names, not split yet
export async function startServer(
  overrides: Partial<ServerConfig>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = resolveConfig(overrides);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: config.logLevel }, pino.destination(2));

  // One server per data directory (docs/crash-safety.md): locked before anything in it is read or written.
  const dataDirLock = await openDataDir(config.dataDir, logger);
  let store: Store;
  let identity: ServerIdentity;
  let provider: { key: string; created: boolean };
  try {
    identity = await loadOrCreateIdentity(config.dataDir);
    provider = await loadOrCreateProviderKey(config.dataDir);
    store = await openStore(config, logger);
  } catch (error) {
    dataDirLock.release();
    throw error;
  }

  const listeners: Listener[] = [];
  let apns: ApnsService | null = null;
  let gateway: Gateway | undefined;
  let spListener: SimplePushListener | undefined;
  const nodeEngine = createDeliveryEngine({
    store,
    clock,
    logger,
    options: {
      maxQueuePerDevice: config.maxQueuePerDevice,
      defaultTtlSeconds: config.defaultTtlSeconds,
      ackTimeoutMs: config.ackTimeoutMs,
    },
  });
  // Who is connected, for every feature: the gateway registers sessions, the engine follows them. On
  // Redis the directory is shared by the nodes, and the engine relays pushes and receipts between them.
  let cluster: Awaited<ReturnType<typeof openPresence>>;
  try {
    cluster = await openPresence(config, nodeEngine, clock, logger);
  } catch (error) {
    await nodeEngine.close();
    await store.close();
    dataDirLock.release();
    throw error;
  }
  const { presence, engine } = cluster;
  // The metrics read the gateway's counts lazily, so they can be created first and handed to it.
  const metrics = createMetrics({
    sessions: () => gateway?.sessionCount ?? 0,
    connections: () => gateway?.connectionCount ?? 0,
    unauthenticated: () => gateway?.admission.pendingCount ?? 0,
  });
  // SimplePush users are devices of this server: the bridge joins the sample's gateway to the engine.
  const spGateway = config.simplepush ? new SimplePushGateway({ clock }) : undefined;
  const bridge = spGateway
    ? new SimplePushBridge({ gateway: spGateway, engine, presence, store, clock, logger })
    : null;
  try {
    gateway = new Gateway({
      metrics,
      listener: engine,
      presence,
      authenticate: (deviceId, credential) => verifyCredential(store, deviceId, credential),
      clock,
      logger,
      // [LP-6.9] Devices register their APNs tokens over their own connection; `apns` is read when a token
      // arrives, so the service can start after the gateway.
      onApnsToken: (deviceId, token) => {
        if (apns === null) return;
        apns.registry
          .register({
            token: token.token.toLowerCase(),
            deviceId,
            bundleId: registrationBundleId(token.topic),
            environment: token.environment,
            updatedAt: clock.now(),
          })
          .catch((error: unknown) =>
            logger.warn({ err: error, device: deviceId }, 'could not record an APNs token'),
          );
      },
      connection: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        heartbeatGraceMs: config.heartbeatGraceMs,
        helloTimeoutMs: config.helloTimeoutMs,
        maxFrameBytes: config.maxFrameBytes,
        maxWriteQueueBytes: config.maxWriteQueueBytes,
      },
      admission: {
        maxPending: config.maxUnauthenticated,
        maxPendingPerAddress: config.maxUnauthenticatedPerAddress,
        failuresBeforeDelay: config.authThrottleAfter,
      },
    });
    const liveGateway = gateway;
    // After the gateway subscribed the engine: the engine hears of a session before the bridge does.
    bridge?.install();

    const baseDirectory = createDeviceDirectory({
      store,
      clock,
      isOnline: (id) => presence.isOnline(id),
    });
    const directory: DeviceDirectory = {
      ...baseDirectory,
      // A removed device loses its live connection at once, not at its next reconnect. [LP-4.4]
      async remove(id) {
        const removed = await baseDirectory.remove(id);
        if (removed) await presence.evict(id, 'removed');
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
    if (bridge) registerChatRoutes(api, { bridge, engine, store, clock });
    await options.extendApi?.(api, { engine, directory, bridge });

    if (config.apnsPort !== null) {
      // Before the API listens: the token routes are added to it.
      apns = await startApnsService({
        config,
        engine,
        store,
        presence,
        directory,
        api,
        identity,
        providerKeys: [provider.key, ...(options.extraProviderKeys ?? [])],
        clock,
        logger,
        admission: gateway.admission,
        ...(options.apnsSender !== undefined ? { sender: options.apnsSender } : {}),
      });
    }
    const liveApns = apns;

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
    if (config.simplepush && spGateway) {
      spListener = await listenSimplePush({
        tls: identity,
        host: config.host,
        controlPort: config.simplepush.controlPort,
        notificationPort: config.simplepush.notificationPort,
        gateway: spGateway,
        admission: gateway.admission,
      });
    }
    const simplepush: RunningSimplePush | null =
      spListener && bridge ? { listener: spListener, bridge, pin: identity.spkiPin } : null;
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
      addresses: {
        tls: tls.address,
        ws: ws?.address ?? null,
        tcp: tcp?.address ?? null,
        api: apiBound,
        apns: liveApns?.endpoint.address ?? null,
        apnsH2c: liveApns?.endpoint.h2cAddress ?? null,
      },
      gateway,
      engine,
      store,
      api,
      simplepush,
      apns: liveApns,
      close(closeOptions = {}) {
        closing ??= (async () => {
          // Every step runs even when an earlier one fails, so a failure never leaves ports open or the
          // store unflushed; the first failure is rethrown at the end.
          const failures: unknown[] = [];
          const step = async (work: () => unknown): Promise<void> => {
            try {
              await work();
            } catch (error) {
              failures.push(error);
            }
          };
          // Stop accepting first, but don't wait: a listener finishes closing only once its connections
          // are gone, and they go when the gateway's goaway and drain are done.
          const listenersClosed = Promise.allSettled(listeners.map((l) => l.close()));
          await step(() => spGateway?.close());
          await step(() => spListener?.close());
          await step(() => liveGateway.shutdown({ drainTimeoutMs: closeOptions.drainTimeoutMs ?? 5_000 }));
          await listenersClosed;
          await step(() => liveApns?.close());
          await step(() => api.close());
          await step(() => cluster.close());
          await step(() => store.close());
          dataDirLock.release();
          if (failures.length > 0) throw failures[0];
        })();
        return closing;
      },
    };
  } catch (error) {
    spGateway?.close();
    await spListener?.close();
    await Promise.all(listeners.map((l) => l.close()));
    await apns?.close();
    await cluster.close();
    await store.close();
    dataDirLock.release();
    throw error;
  }
}
