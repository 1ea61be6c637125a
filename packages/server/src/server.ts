/**
 * The composition root: the core (data directory and identity, store, delivery engine, presence, device
 * gateway and its listeners, the HTTP API's host) and the features on it as plugins (plugin.ts,
 * plugins.ts). Everything is created here and passed down; nothing is a module singleton. Each step of
 * starting pushes its undoing onto one close stack, which a graceful close and a failed start both run.
 */
import { join } from 'node:path';
import { systemClock, type Clock } from '@localpush/protocol';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApnsSender } from './apns/router.js';
import type { ApnsService } from './apns/service.js';
import { loadServerIdentity, ServedCertificate, type CertificateReload } from './certificates.js';
import { CloseStack } from './close-stack.js';
import { resolveConfig, type ConfigKey, type ServerConfig } from './config.js';
import { openDataDir } from './data-dir.js';
import { createDeviceDirectory, verifyCredential } from './engine/devices.js';
import { createDeliveryEngine, type DeliveryEngineImpl } from './engine/engine.js';
import type { DeviceDirectory } from './engine/types.js';
import { LocalpushError, ServerErrorCode } from './errors.js';
import { Gateway, type SessionObserver } from './gateway/gateway.js';
import {
  listenTcp,
  listenTls,
  listenWebSocket,
  type ListenAddress,
  type Listener,
} from './gateway/listeners.js';
import { createHttpHost } from './http/api.js';
import { createLogger } from './logger.js';
import { loadOrCreateProviderKey, type ServerIdentity } from './identity.js';
import { fastifyPlugin, type PluginHooks, type ServerCore, type ServerPlugin } from './plugin.js';
import { builtinPlugins, type RunningSimplePush } from './plugins.js';
import { openPresence, type PresenceParts } from './presence/cluster.js';
import type { SessionDirectory } from './presence/types.js';
import { dataDirFailure, listening, type ListenSite } from './startup-errors.js';
import { createMemoryStore, openRedisStore, openSqliteStore } from './store/index.js';
import type { Store } from './store/types.js';

export type { RunningSimplePush } from './plugins.js';

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
  /** Provider keys accepted besides the one kept in the data directory. */
  extraProviderKeys?: string[];
  /** Features beyond the built-in ones (the demo's page and enrolment route, for one), set up after them. */
  plugins?: readonly ServerPlugin<unknown>[];
  /** The APNs fallback, injected (tests aim an ApnsClient at the test peer); overrides `apnsFallback`. */
  apnsSender?: ApnsSender;
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
  /** What a plugin handed back (its `value`), or null when it is not on. */
  plugin<T>(plugin: ServerPlugin<T>): T | null;
  /** The served certificate: its expiry (`notAfter`, for metrics) and its reload. */
  readonly certificate: ServedCertificate;
  /**
   * Applies what can change while the server runs (SIGHUP): the certificate and key — read again, from
   * `next`'s paths when given — and `logLevel` and `certExpiryWarningMs`. Every other option is bound to
   * a socket, a store or a started part and needs a restart: those that differ are listed in
   * `needsRestart`. A bad certificate is refused (logged, LP_CERT_INVALID) and the old one stays.
   */
  reload(next?: ServerConfig): Promise<ServerReload>;
  /** Graceful stop: goaway to every device, drain, close listeners, flush the store. */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/** The options {@link RunningServer.reload} applies live; see there. */
export const LIVE_OPTIONS = [
  'cert',
  'key',
  'certExpiryWarningMs',
  'logLevel',
] as const satisfies readonly (keyof ServerConfig)[];

/** What a reload did. */
export interface ServerReload {
  certificate: CertificateReload;
  /** Live options whose value changed and was applied. */
  applied: string[];
  /** Options whose value changed but that only a restart applies. */
  needsRestart: string[];
}

/** The keys whose values differ between two configurations (compared as JSON). */
function changedKeys(before: ServerConfig, after: ServerConfig): (keyof ServerConfig)[] {
  return (Object.keys(after) as (keyof ServerConfig)[]).filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
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

/** Every plugin's hooks, called in plugin order (the gateway and the directory are given this one). */
class HookFanOut implements Required<PluginHooks> {
  private readonly all: PluginHooks[] = [];
  add(hooks: PluginHooks | undefined): void {
    if (hooks !== undefined) this.all.push(hooks);
  }
  connectionOpened(): void {
    for (const h of this.all) h.connectionOpened?.();
  }
  connectionClosed(...args: Parameters<Required<PluginHooks>['connectionClosed']>): void {
    for (const h of this.all) h.connectionClosed?.(...args);
  }
  sessionReplaced(): void {
    for (const h of this.all) h.sessionReplaced?.();
  }
  helloRefused(): void {
    for (const h of this.all) h.helloRefused?.();
  }
  unauthenticatedRefused(...args: Parameters<Required<PluginHooks>['unauthenticatedRefused']>): void {
    for (const h of this.all) h.unauthenticatedRefused?.(...args);
  }
  unauthenticatedEvicted(...args: Parameters<Required<PluginHooks>['unauthenticatedEvicted']>): void {
    for (const h of this.all) h.unauthenticatedEvicted?.(...args);
  }
  deadlineExpired(...args: Parameters<Required<PluginHooks>['deadlineExpired']>): void {
    for (const h of this.all) h.deadlineExpired?.(...args);
  }
  apnsToken(...args: Parameters<Required<PluginHooks>['apnsToken']>): void {
    for (const h of this.all) h.apnsToken?.(...args);
  }
  readonly sessions: SessionObserver = {
    opened: (...args) => {
      for (const h of this.all) h.sessions?.opened(...args);
    },
    closed: (...args) => {
      for (const h of this.all) h.sessions?.closed(...args);
    },
    heartbeatRtt: (...args) => {
      for (const h of this.all) h.sessions?.heartbeatRtt(...args);
    },
  };
}

/** The device gateway on the core's parts; the plugins' hooks hear its connection and session events. */
function createGateway(
  config: ServerConfig,
  parts: {
    store: Store;
    engine: DeliveryEngineImpl;
    presence: SessionDirectory;
    clock: Clock;
    logger: Logger;
    hooks: HookFanOut;
  },
): Gateway {
  const { store, engine, presence, clock, logger, hooks } = parts;
  return new Gateway({
    metrics: hooks,
    observer: hooks.sessions,
    listener: engine,
    presence,
    authenticate: (deviceId, credential) => verifyCredential(store, deviceId, credential),
    clock,
    logger,
    onApnsToken: (deviceId, token) => hooks.apnsToken(deviceId, token),
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
}

/** The served certificate (--cert/--key or the data directory's), checked, with its expiry watch. */
async function serveCertificate(
  config: ServerConfig,
  clock: Clock,
  logger: Logger,
  stack: CloseStack,
): Promise<{ identity: ServerIdentity; certificate: ServedCertificate }> {
  const { identity, source } = await loadServerIdentity(config, clock.now());
  const certificate = new ServedCertificate(identity, source, clock, logger, config.certExpiryWarningMs);
  certificate.start();
  stack.push('certificate expiry check', () => certificate.close());
  return { identity, certificate };
}

/** The device directory the features see: removing a device also ends its live session. */
function evictingDirectory(store: Store, clock: Clock, presence: PresenceParts['presence']): DeviceDirectory {
  const baseDirectory = createDeviceDirectory({ store, clock, isOnline: (id) => presence.isOnline(id) });
  return {
    ...baseDirectory,
    // A removed device loses its live connection at once, not at its next reconnect. [LP-4.4]
    async remove(id) {
      const removed = await baseDirectory.remove(id);
      if (removed) await presence.evict(id, 'removed');
      return removed;
    },
  };
}

/** The core as startServer holds it: what plugins get, the provider key and the served certificate. */
type StartedCore = ServerCore & {
  provider: { key: string; created: boolean };
  certificate: ServedCertificate;
};

/**
 * What lives in the data directory — its lock, the identity, the provider key, the store — with a
 * permission error turned into one that names the file, its owner and the fix.
 */
async function openDataDirParts(config: ServerConfig, logger: Logger, stack: CloseStack, clock: Clock) {
  try {
    // One server per data directory (docs/crash-safety.md): locked before anything in it is read or written.
    const dataDirLock = await openDataDir(config.dataDir, logger);
    stack.push('data directory lock', () => dataDirLock.release());
    const { identity, certificate } = await serveCertificate(config, clock, logger, stack);
    const provider = await loadOrCreateProviderKey(config.dataDir);
    const store = await openStore(config, logger);
    stack.push('store', () => store.close());
    return { identity, provider, store, certificate };
  } catch (error) {
    throw dataDirFailure(config.dataDir, error) ?? error;
  }
}

/** The core, from the data directory up to the gateway; each step's undoing goes on `stack`. */
async function startCore(
  config: ServerConfig,
  options: StartOptions,
  stack: CloseStack,
  hooks: HookFanOut,
): Promise<StartedCore> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const { identity, provider, store, certificate } = await openDataDirParts(config, logger, stack, clock);
  const nodeEngine = createDeliveryEngine({
    store,
    clock,
    logger,
    // On Redis other nodes enqueue for this node's devices too.
    sharedStore: config.store === 'redis',
    options: {
      maxQueuePerDevice: config.maxQueuePerDevice,
      defaultTtlSeconds: config.defaultTtlSeconds,
      ackTimeoutMs: config.ackTimeoutMs,
      slowConsumerTimeoutMs: config.slowConsumerTimeoutMs,
    },
  });
  // Who is connected, for every feature: the gateway registers sessions, the engine follows them. On
  // Redis the directory is shared by the nodes, and the engine relays pushes and receipts between them.
  let cluster: PresenceParts;
  try {
    cluster = await openPresence(config, nodeEngine, clock, logger);
  } catch (error) {
    await nodeEngine.close();
    throw error;
  }
  stack.push('engine and presence', () => cluster.close());
  const { presence, engine } = cluster;
  const gateway = createGateway(config, { store, engine, presence, clock, logger, hooks });
  const directory = evictingDirectory(store, clock, presence);
  const providerKeys = [provider.key, ...(options.extraProviderKeys ?? [])];
  return {
    config,
    clock,
    logger,
    identity,
    providerKeys,
    store,
    engine,
    presence,
    directory,
    gateway,
    provider,
    certificate,
  };
}

/** The device listeners. Closing stops accepting, drains the gateway, then waits for the listeners. */
async function startDeviceListeners(
  core: ServerCore,
  stack: CloseStack,
  drainTimeoutMs: () => number,
): Promise<{ tls: Listener; ws: Listener | null; tcp: Listener | null }> {
  const { config, gateway, identity } = core;
  const listeners: Listener[] = [];
  // Stop accepting first, but don't wait: a listener finishes closing only once its connections are
  // gone, and they go when the gateway's goaway and drain are done.
  stack.push('device listeners and drain', async () => {
    const listenersClosed = Promise.allSettled(listeners.map((l) => l.close()));
    try {
      await gateway.shutdown({ drainTimeoutMs: drainTimeoutMs() });
    } finally {
      await listenersClosed;
    }
  });
  const site = (what: string, port: number, portOption: ConfigKey): ListenSite => ({
    what,
    at: `${config.host}:${port}`,
    portOption,
    hostOption: 'host',
  });
  const tls = await listening(site('devices over TLS', config.tlsPort, 'tlsPort'), () =>
    listenTls(gateway, identity, { host: config.host, port: config.tlsPort }),
  );
  listeners.push(tls);
  const { wsPort, tcpPort } = config;
  const ws =
    wsPort === null
      ? null
      : await listening(site('devices over WebSocket', wsPort, 'wsPort'), () =>
          listenWebSocket(
            gateway,
            { host: config.host, port: wsPort },
            config.wsTls ? { tls: identity } : {},
          ),
        );
  if (ws !== null) listeners.push(ws);
  const tcp =
    tcpPort === null
      ? null
      : await listening(site('devices over plain TCP', tcpPort, 'tcpPort'), () =>
          listenTcp(gateway, { host: config.host, port: tcpPort }),
        );
  if (tcp !== null) listeners.push(tcp);
  return { tls, ws, tcp };
}

/**
 * The plugins, set up in order — routes registered, hooks added — each started at once unless its stage
 * is `with-devices`: those are started by the function returned, after the device listeners. A plugin's
 * close is pushed when it is set up and, for `with-devices`, again when it starts, so that it runs at the
 * later place in the stack (once: the earlier entry then finds it done).
 */
async function setupPlugins(
  plugins: readonly ServerPlugin<unknown>[],
  core: ServerCore,
  api: FastifyInstance,
  hooks: HookFanOut,
  stack: CloseStack,
  values: Map<ServerPlugin<unknown>, unknown>,
): Promise<() => Promise<void>> {
  const deferred: (() => Promise<void>)[] = [];
  for (const plugin of plugins) {
    const parts = await plugin.setup(core);
    if (parts === null) continue;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await parts.close?.();
    };
    stack.push(plugin.name, close);
    if (parts.routes !== undefined) await api.register(fastifyPlugin(parts.routes));
    hooks.add(parts.hooks);
    const start = async (): Promise<void> => {
      await parts.start?.();
      values.set(plugin, parts.value);
    };
    if ((plugin.stage ?? 'before-devices') === 'before-devices') await start();
    else {
      deferred.push(async () => {
        stack.push(plugin.name, close);
        await start();
      });
    }
  }
  return async () => {
    for (const start of deferred) await start();
  };
}

/** Where the API is bound (the asked address when the server reports none, as with a pipe). */
function boundAddress(api: FastifyInstance, config: ServerConfig): ListenAddress {
  const address = api.server.address();
  return typeof address === 'object' && address !== null
    ? { host: address.address, port: address.port }
    : { host: config.apiHost, port: config.apiPort };
}

export async function startServer(
  overrides: Partial<ServerConfig>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = resolveConfig(overrides);
  const stack = new CloseStack();
  const hooks = new HookFanOut();
  const values = new Map<ServerPlugin<unknown>, unknown>();
  const valueOf = <T>(p: ServerPlugin<T>): T | null => (values.has(p) ? (values.get(p) as T) : null);
  let drainTimeoutMs: number | undefined;
  const { plugins, apns, simplepush } = builtinPlugins(options);

  return stack.unwindOnFailure(async () => {
    const core = await startCore(config, options, stack, hooks);
    const api = createHttpHost({
      providerKeys: core.providerKeys,
      logger: core.logger,
      logRequests: config.accessLog,
    });
    stack.push('HTTP API', () => api.close());
    const all = [...plugins, ...(options.plugins ?? [])];
    const startWithDevices = await setupPlugins(all, core, api, hooks, stack, values);
    const devices = await startDeviceListeners(core, stack, () => drainTimeoutMs ?? 5_000);
    await startWithDevices();
    const apiSite: ListenSite = {
      what: 'the HTTP API',
      at: `${config.apiHost}:${config.apiPort}`,
      portOption: 'apiPort',
      hostOption: 'apiHost',
    };
    await listening(apiSite, () => api.listen({ host: config.apiHost, port: config.apiPort }));

    const apnsService = valueOf(apns);
    let current = config;
    return {
      get config() {
        return current;
      },
      identity: core.identity,
      providerKey: core.provider.key,
      providerKeyCreated: core.provider.created,
      addresses: {
        tls: devices.tls.address,
        ws: devices.ws?.address ?? null,
        tcp: devices.tcp?.address ?? null,
        api: boundAddress(api, config),
        apns: apnsService?.endpoint.address ?? null,
        apnsH2c: apnsService?.endpoint.h2cAddress ?? null,
      },
      gateway: core.gateway,
      engine: core.engine,
      store: core.store,
      api,
      simplepush: valueOf(simplepush),
      apns: apnsService,
      plugin: valueOf,
      certificate: core.certificate,
      async reload(next) {
        const certificate = await core.certificate.reload(next);
        const changed = next === undefined ? [] : changedKeys(current, next);
        const live = new Set<string>(LIVE_OPTIONS);
        if (next !== undefined && next.logLevel !== current.logLevel) core.logger.level = next.logLevel;
        const applied = changed.filter((key) => live.has(key));
        const needsRestart = changed.filter((key) => !live.has(key));
        if (next !== undefined) {
          // What was applied becomes the running configuration; the rest waits for a restart.
          current = { ...current, logLevel: next.logLevel, certExpiryWarningMs: next.certExpiryWarningMs };
          if (certificate.applied) current = { ...current, cert: next.cert, key: next.key };
        }
        if (needsRestart.length > 0)
          core.logger.warn(
            { options: needsRestart },
            `reload: ${needsRestart.join(', ')} changed; they apply at the next restart`,
          );
        return { certificate, applied, needsRestart };
      },
      close(closeOptions = {}) {
        drainTimeoutMs ??= closeOptions.drainTimeoutMs ?? 5_000;
        return stack.close();
      },
    };
  });
}
