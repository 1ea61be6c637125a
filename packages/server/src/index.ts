/**
 * @localpush/server — the localpush push server as a library: start it whole with {@link startServer},
 * or compose the parts (gateway, engine, stores, HTTP API) yourself.
 */
export {
  LIVE_OPTIONS,
  startServer,
  type RunningServer,
  type RunningSimplePush,
  type ServerReload,
  type StartOptions,
} from './server.js';
export {
  fastifyPlugin,
  type PluginHooks,
  type PluginParts,
  type PluginStage,
  type RoutesPlugin,
  type ServerCore,
  type ServerPlugin,
} from './plugin.js';
export { CloseStack } from './close-stack.js';
export { metricsPlugin } from './metrics.js';
export { healthPlugin, healthRoutes, healthObserver, closeReasonLabel } from './health/plugin.js';
export {
  DeviceHealthTracker,
  DEFAULT_FLAPPING_RECONNECTS,
  DEFAULT_HEALTH_LIMITS,
  HEALTH_WINDOW_MS,
  type AccessPointReport,
  type DeviceHealthReport,
  type HealthLimits,
  type RttSummary,
  type SessionRecord,
} from './health/tracker.js';
export {
  Retention,
  retentionPlugin,
  RETENTION_BATCH,
  RETENTION_INTERVAL_MS,
  type RetentionLogger,
  type RetentionOptions,
  type RetentionRun,
} from './retention.js';
export {
  BACKUP_ROUTE,
  DATABASE_FILE,
  backupPlugin,
  backupStoppedDataDir,
  describeBackup,
  restoreDataDir,
  type BackupSummary,
} from './backup.js';
export {
  ServedCertificate,
  certificateSource,
  checkCertificate,
  loadServerIdentity,
  readCertificate,
  type CertificateReload,
  type CertificateSource,
  type CheckedCertificate,
} from './certificates.js';
export { demoPlugin, type DemoPluginOptions } from './demo/routes.js';
export { simplePushPlugin } from './simplepush/plugin.js';
export * from './config.js';
export { createLogger, isPretty, stderrDestination, type LogDestination } from './logger.js';
export { dataDirFailure, errnoOf, listenFailure, optionNamed, type ListenSite } from './startup-errors.js';
export { LocalpushError, StoreError, ServerErrorCode } from './errors.js';
export {
  Gateway,
  type GatewayOptions,
  type SessionObserver,
  type ShutdownOptions,
} from './gateway/gateway.js';
export {
  DeviceConnection,
  DEFAULT_CONNECTION_OPTIONS,
  type ConnectionOptions,
  type ConnectionState,
  type CloseReason,
} from './gateway/connection.js';
export { listenTls, listenTcp, listenWebSocket, WEBSOCKET_PATH, type Listener } from './gateway/listeners.js';
export { DEFAULT_ENGINE_OPTIONS } from './engine/options.js';
export {
  createDeliveryEngine,
  type DeliveryEngineImpl,
  type DeliveryEngineOptions,
} from './engine/engine.js';
export { createDeviceDirectory, verifyCredential } from './engine/devices.js';
export type * from './engine/types.js';
export { createMemoryStore, openSqliteStore } from './store/index.js';
export type * from './store/types.js';
export {
  buildHttpApi,
  createHttpHost,
  httpApiPlugin,
  type HttpApiOptions,
  type HttpHostOptions,
} from './http/api.js';
export { apiRoutes, type ApiRoutesOptions } from './http/routes.js';
export {
  loadOrCreateIdentity,
  loadOrCreateProviderKey,
  readProviderKey,
  readSpkiPin,
  spkiPin,
} from './identity.js';
export * from './simplepush/index.js';
export * from './simplepush/bridge.js';
export { chatRoutes, type ChatRouteDeps, type ChatSendBody } from './simplepush/bridge-routes.js';
export * from './apns/index.js';
export * from './apns/router.js';
export { storeApnsTokenRegistry, type ApnsTokenRegistry, type ApnsTokenStore } from './apns/registry.js';
export { listenApnsEndpoint, type ApnsEndpoint, type ApnsEndpointOptions } from './apns/endpoint.js';
export { apnsTokenRoutes, type ApnsTokenRoutesOptions } from './apns/registry-routes.js';
export { apnsPlugin, type ApnsPluginOptions, type ApnsService } from './apns/service.js';
