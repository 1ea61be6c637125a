/**
 * The APNs side of the server as one plugin: the token registry (a view of the store) and its HTTP
 * routes, the devices' own token registrations (a hook), the inbound verifier, the optional fallback client, the
 * router and the endpoint listeners. On only when `apnsPort` is set.
 */
import { readFile } from 'node:fs/promises';
import type { ServerConfig, ServerCore, ServerPlugin } from '../core.js';
import { ProviderKeys, errnoOf, listenFailure } from '../core.js';
import { ApnsClient } from './client.js';
import { listenApnsEndpoint, type ApnsEndpoint } from './endpoint.js';
import { storeApnsTokenRegistry, type ApnsTokenRegistry } from './registry.js';
import { apnsTokenRoutes } from './registry-routes.js';
import { ApnsRouter, registrationBundleId, type ApnsSender } from './router.js';
import { ProviderTokenVerifier, type ProviderKeyConfig } from './token-verifier.js';

/** Options of {@link apnsPlugin}. */
export interface ApnsPluginOptions {
  /** The fallback, injected (tests: an ApnsClient aimed at the test peer); overrides `config.apnsFallback`. */
  readonly sender?: ApnsSender;
}

/** The running APNs side. */
export interface ApnsService {
  readonly registry: ApnsTokenRegistry;
  readonly router: ApnsRouter;
  readonly endpoint: ApnsEndpoint;
  close(): Promise<void>;
}

/** The APNs endpoint and fallback, as a plugin. */
export function apnsPlugin(options: ApnsPluginOptions = {}): ServerPlugin<ApnsService> {
  return {
    name: 'APNs',
    setup(core) {
      const port = core.config.apnsPort;
      if (port === null) return null;
      // The store keeps the registrations, so removing a device removes its tokens in the same step.
      const registry = storeApnsTokenRegistry(core.store);
      let client: ApnsClient | undefined;
      let service: ApnsService | undefined;
      const close = async (): Promise<void> => {
        try {
          await service?.endpoint.close();
        } finally {
          await client?.close();
        }
      };
      return {
        routes: apnsTokenRoutes({ registry, directory: core.directory, now: () => core.clock.now() }),
        hooks: {
          // [LP-6.9] Devices register their APNs tokens over their own connection.
          apnsToken(deviceId, token) {
            registry
              .register({
                token: token.token.toLowerCase(),
                deviceId,
                bundleId: registrationBundleId(token.topic),
                environment: token.environment,
                updatedAt: core.clock.now(),
              })
              .catch((error: unknown) =>
                core.logger.warn({ err: error, device: deviceId }, 'could not record an APNs token'),
              );
          },
        },
        async start() {
          const verifier = await providerTokenVerifier(core.config, core);
          client = await fallbackClient(core, options.sender);
          const sender = options.sender ?? client;
          const router = new ApnsRouter({
            engine: core.engine,
            presence: core.presence,
            registry,
            ...(sender !== undefined ? { apns: sender } : {}),
            ackTimeoutMs: core.config.apnsAckTimeoutMs,
            now: () => core.clock.now(),
            logger: core.logger,
          });
          const endpoint = await listenEndpoint(core, router, verifier, port).catch((error: unknown) => {
            throw endpointListenFailure(core.config, port, error);
          });
          service = { registry, router, endpoint, close };
        },
        get value() {
          return service;
        },
        close,
      };
    },
  };
}

/** A failure to bind the endpoint, naming the option of the port that failed (h2 over TLS, or h2c). */
function endpointListenFailure(config: ServerConfig, port: number, error: unknown): Error {
  const h2c =
    config.apnsH2cPort !== null &&
    (errnoOf(error) as { port?: number } | undefined)?.port === config.apnsH2cPort;
  return listenFailure(
    h2c
      ? {
          what: 'the APNs endpoint (h2c)',
          at: `${config.host}:${config.apnsH2cPort}`,
          portOption: 'apnsH2cPort',
          hostOption: 'host',
        }
      : {
          what: 'the APNs endpoint',
          at: `${config.host}:${port}`,
          portOption: 'apnsPort',
          hostOption: 'host',
        },
    error,
  );
}

/** The configured fallback to Apple's APNs, unless one is injected or none is configured. */
async function fallbackClient(
  core: ServerCore,
  injected: ApnsSender | undefined,
): Promise<ApnsClient | undefined> {
  const { config, clock } = core;
  const fallback = config.apnsFallback;
  if (injected !== undefined || fallback === null) return undefined;
  // Tokens not registered here go to the environment the endpoint plays unless the fallback names its own.
  const environment = fallback.environment ?? config.apnsEnvironment;
  return new ApnsClient({
    credentials: {
      teamId: fallback.teamId,
      keyId: fallback.keyId,
      privateKey: await readFile(fallback.privateKeyPath, 'utf8'),
    },
    environment,
    clock,
    // One session pool per environment: each message goes where its token was registered. A single
    // stand-in endpoint (tests, a proxy) serves both; `endpoints` names one per environment.
    endpoints: {
      ...(fallback.endpoint !== undefined
        ? { production: fallback.endpoint, development: fallback.endpoint }
        : {}),
      ...fallback.endpoints,
    },
    ...(fallback.proxy !== undefined ? { proxy: fallback.proxy } : {}),
    // The provider is waiting on the answer: don't spend its whole request timeout on back-off.
    maxAttempts: 2,
    connectTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
  });
}

/** Checks providers' tokens against the configured .p8 keys. */
async function providerTokenVerifier(
  config: ServerConfig,
  { clock }: Pick<ServerCore, 'clock'>,
): Promise<ProviderTokenVerifier> {
  const keys: ProviderKeyConfig[] = await Promise.all(
    config.apnsKeys.map(async (k) => ({
      teamId: k.teamId,
      keyId: k.keyId,
      pem: await readFile(k.path, 'utf8'),
      ...(k.environments !== undefined ? { environments: k.environments } : {}),
    })),
  );
  return new ProviderTokenVerifier({ keys, clock, environment: config.apnsEnvironment });
}

/** The endpoint's listeners. */
async function listenEndpoint(
  core: ServerCore,
  router: ApnsRouter,
  verifier: ProviderTokenVerifier,
  port: number,
): Promise<ApnsEndpoint> {
  const { config } = core;
  const coreKeys = new ProviderKeys(core.providerKeys);
  return listenApnsEndpoint({
    router,
    verifier,
    coreKey: (authorization) => coreKeys.verifyHeader(authorization),
    host: config.host,
    port,
    h2cPort: config.apnsH2cPort,
    idleTimeoutMs: config.apnsIdleTimeoutMs,
    allowedTopics: new Map(
      config.apnsKeys
        .filter((k) => k.topics !== undefined)
        .map((k) => [`${k.teamId}:${k.keyId}`, new Set(k.topics)] as const),
    ),
    tls: core.identity,
    logger: core.logger,
    admission: core.gateway.admission,
  });
}
