/**
 * Composition of the APNs side of the server, kept out of server.ts: the token registry and its HTTP
 * routes, the inbound verifier, the optional fallback client, the router and the endpoint listeners.
 */
import { readFile } from 'node:fs/promises';
import type { Clock } from '@localpush/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../core.js';
import type { DeliveryEngineImpl } from '../core.js';
import type { DeviceDirectory } from '../core.js';
import { ProviderKeys } from '../core.js';
import type { Admission, TlsIdentity } from '../core.js';
import type { SessionDirectory } from '../core.js';
import { ApnsClient } from './client.js';
import { listenApnsEndpoint, type ApnsEndpoint } from './endpoint.js';
import { storeApnsTokenRegistry, type ApnsTokenRegistry, type ApnsTokenStore } from './registry.js';
import { registerApnsTokenRoutes } from './registry-routes.js';
import { ApnsRouter, type ApnsSender, type RouterLogger } from './router.js';
import { ProviderTokenVerifier, type ProviderKeyConfig } from './token-verifier.js';

/** What {@link startApnsService} needs. */
export interface ApnsServiceDeps {
  readonly config: ServerConfig;
  readonly engine: DeliveryEngineImpl;
  readonly presence: Pick<SessionDirectory, 'locate'>;
  readonly directory: Pick<DeviceDirectory, 'get'>;
  /** The HTTP API: the token routes are added to it (before it listens). */
  readonly api: FastifyInstance;
  readonly identity: TlsIdentity;
  /** The core's provider keys, also accepted as `authorization: bearer <key>` on the endpoint. */
  readonly providerKeys: readonly string[];
  readonly clock: Clock;
  readonly logger: RouterLogger & { error(obj: object, msg?: string): void };
  /** The fallback, injected (tests: an ApnsClient aimed at the test peer); overrides `config.apnsFallback`. */
  readonly sender?: ApnsSender;
  /**
   * The store, which keeps the token registrations (the registry is a view of it), so that removing a
   * device removes its tokens in the same step.
   */
  readonly store: ApnsTokenStore;
  /** The server's admission of unauthenticated connections, for the endpoint's listeners. */
  readonly admission?: Admission;
}

/** The running APNs side. */
export interface ApnsService {
  readonly registry: ApnsTokenRegistry;
  readonly router: ApnsRouter;
  readonly endpoint: ApnsEndpoint;
  close(): Promise<void>;
}

/**
 * Registers the token routes and starts the endpoint. Call only when `config.apnsPort` is set; the routes
 * must be added before the API listens, the endpoint can start any time after.
 */
export async function startApnsService(deps: ApnsServiceDeps): Promise<ApnsService> {
  const { config, clock } = deps;
  const port = config.apnsPort;
  if (port === null) throw new TypeError('startApnsService needs config.apnsPort');
  const registry = storeApnsTokenRegistry(deps.store);
  let client: ApnsClient | undefined;
  try {
    registerApnsTokenRoutes(deps.api, { registry, directory: deps.directory, now: () => clock.now() });
    const keys: ProviderKeyConfig[] = await Promise.all(
      config.apnsKeys.map(async (k) => ({
        teamId: k.teamId,
        keyId: k.keyId,
        pem: await readFile(k.path, 'utf8'),
        ...(k.environments !== undefined ? { environments: k.environments } : {}),
      })),
    );
    const verifier = new ProviderTokenVerifier({ keys, clock, environment: config.apnsEnvironment });
    let sender = deps.sender;
    if (sender === undefined && config.apnsFallback !== null) {
      client = await fallbackClient(config, config.apnsFallback, clock);
      sender = client;
    }
    const router = new ApnsRouter({
      engine: deps.engine,
      presence: deps.presence,
      registry,
      ...(sender !== undefined ? { apns: sender } : {}),
      ackTimeoutMs: config.apnsAckTimeoutMs,
      now: () => clock.now(),
      logger: deps.logger,
    });
    const coreKeys = new ProviderKeys(deps.providerKeys);
    const endpoint = await listenApnsEndpoint({
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
      tls: deps.identity,
      logger: deps.logger,
      ...(deps.admission !== undefined ? { admission: deps.admission } : {}),
    });
    return {
      registry,
      router,
      endpoint,
      async close() {
        await endpoint.close();
        await client?.close();
      },
    };
  } catch (error) {
    await client?.close();
    throw error;
  }
}

/**
 * The client towards real APNs. One session pool per environment: each message goes where its token was
 * registered. Tokens not registered here go to the environment the endpoint plays unless the fallback
 * names its own.
 */
async function fallbackClient(
  config: ServerConfig,
  fallback: NonNullable<ServerConfig['apnsFallback']>,
  clock: Clock,
): Promise<ApnsClient> {
  const standIn = fallback.endpoint;
  return new ApnsClient({
    credentials: {
      teamId: fallback.teamId,
      keyId: fallback.keyId,
      privateKey: await readFile(fallback.privateKeyPath, 'utf8'),
    },
    environment: fallback.environment ?? config.apnsEnvironment,
    clock,
    endpoints: {
      ...(standIn !== undefined ? { production: standIn, development: standIn } : {}),
      ...fallback.endpoints,
    },
    ...(fallback.proxy !== undefined ? { proxy: fallback.proxy } : {}),
    // The provider is waiting on the answer: don't spend its whole request timeout on back-off.
    maxAttempts: 2,
    connectTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
  });
}
