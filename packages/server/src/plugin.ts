/**
 * The one contract between the composition root (server.ts) and a feature. A feature — the HTTP API's
 * /v1 routes, metrics, the APNs endpoint and fallback, SimplePush, the demo — is a {@link ServerPlugin}:
 * it is given the core ({@link ServerCore}: store, engine, presence, gateway, device directory and the
 * server's identity and configuration) and answers what it adds: routes for the HTTP API, hooks into
 * sessions and devices, what it starts and how it closes. Adding a feature is adding a plugin to the list
 * (plugins.ts, or `StartOptions.plugins`), never editing the root.
 */
import type { ApnsToken, Clock } from '@localpush/protocol';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { DeliveryEngineImpl } from './engine/engine.js';
import type { DeviceDirectory } from './engine/types.js';
import type { Gateway, GatewayMetrics, SessionObserver } from './gateway/gateway.js';
import type { ServerIdentity } from './identity.js';
import type { SessionDirectory } from './presence/types.js';
import type { Store } from './store/types.js';

/**
 * Routes for the HTTP API: called with an encapsulated context of it (as a Fastify plugin is), so hooks
 * and decorators added here stay the plugin's own while the API's key check and error answers apply.
 */
export type RoutesPlugin = (api: FastifyInstance) => void | Promise<void>;

/** A {@link RoutesPlugin} as a Fastify plugin, for `register`. */
export function fastifyPlugin(routes: RoutesPlugin): FastifyPluginAsync {
  return async (scope) => {
    await routes(scope);
  };
}

/** What every plugin is given: the core, created before any plugin and closed after all of them. */
export interface ServerCore {
  readonly config: ServerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The server's TLS certificate and key (also its SimplePush pin). */
  readonly identity: ServerIdentity;
  /** Provider keys accepted by the HTTP API (the data directory's, then any extra ones). */
  readonly providerKeys: readonly string[];
  readonly store: Store;
  readonly engine: DeliveryEngineImpl;
  /** Who is connected where: ask it and subscribe to it, never keep a copy. */
  readonly presence: SessionDirectory;
  /** Devices as the features see them (removing one also evicts its live session). */
  readonly directory: DeviceDirectory;
  /** The device gateway (its counts; it accepts devices once the core's listeners start). */
  readonly gateway: Gateway;
}

/** A plugin's hooks into the core's sessions: the gateway's connection events and what a device tells over its session. */
export interface PluginHooks extends Partial<GatewayMetrics> {
  /** A device told its APNs token over its authoritative session [LP-6.9]. */
  apnsToken?(deviceId: string, token: ApnsToken): void;
  /** The devices' authoritative sessions as they open, close and answer heartbeats (the health view). */
  sessions?: SessionObserver;
}

/**
 * When a plugin starts relative to the device listeners — and so, the close stack running in reverse,
 * when it closes relative to the devices' drain:
 * - `before-devices` (the default): set up and started before devices can connect, closed after they have
 *   drained — for what answers requests that wait on devices' acks (routes, the APNs endpoint).
 * - `with-devices`: set up with the others (its hooks and routes in place before any device connects),
 *   started after the device listeners and stopped before the drain like them — for another gateway of
 *   devices (SimplePush), which stops accepting when the server does.
 */
export type PluginStage = 'before-devices' | 'with-devices';

/** What a plugin adds once set up on the core. `T` is what it hands back to the caller of startServer. */
export interface PluginParts<T = undefined> {
  /**
   * Routes, as a Fastify plugin registered in the HTTP API before it listens. They share the API's
   * provider-key check (a route opts out with `config: { public: true }`) and its error answers.
   */
  readonly routes?: RoutesPlugin;
  readonly hooks?: PluginHooks;
  /** Opens what the plugin serves itself (its own listeners). */
  start?(): Promise<void>;
  /**
   * Releases everything the plugin took, at setup or start. Called exactly once when the server closes —
   * or when a later step of startServer fails, in which case `start` may not have run or may have failed.
   */
  close?(): Promise<void>;
  /** Available once started, e.g. as a field of RunningServer. */
  readonly value?: T;
}

/** A feature of the server. */
export interface ServerPlugin<T = undefined> {
  /** Names the plugin in logs and errors. */
  readonly name: string;
  readonly stage?: PluginStage;
  /** Builds the plugin on the core; null when the configuration turns it off. Listens on nothing yet. */
  setup(core: ServerCore): PluginParts<T> | null | Promise<PluginParts<T> | null>;
}
