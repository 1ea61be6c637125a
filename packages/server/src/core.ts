/**
 * The core's surface for features (the APNs side, SimplePush, the demo): the plugin contract
 * (plugin.ts) and everything they may use of the engine, the stores, presence, the HTTP API's error
 * shape and authentication, identity and configuration. A feature imports the core through this module only — lint enforces it
 * (eslint.config.js, import-x/no-restricted-paths) — so the core's insides can change without them.
 */
export type { ServerConfig } from './config.js';
export { ownerOnlyFile } from './data-dir.js';
export { verifyCredential } from './engine/devices.js';
export type { Admission, AdmissionTicket } from './gateway/admission.js';
export type { CloseReason } from './gateway/connection.js';
export type { SessionObserver } from './gateway/gateway.js';
export type { DeliveryEngineImpl } from './engine/engine.js';
export type {
  DeliveryEngine,
  DeviceDirectory,
  DeviceSession,
  SendOutcome,
  SendRequest,
  SessionListener,
} from './engine/types.js';
export { ServerErrorCode, StoreError } from './errors.js';
export { errnoOf, listenFailure, listening, type ListenSite } from './startup-errors.js';
export { ProviderKeys } from './http/auth.js';
export { ApiError, ApiErrorCode, badRequest } from './http/errors.js';
export { numericQuery } from './http/routes.js';
export { deviceParamsSchema, errors as errorResponses } from './http/schemas.js';
export { followIdentity, tlsServerOptions, type TlsIdentity } from './identity.js';
export type {
  PluginHooks,
  PluginParts,
  PluginStage,
  RoutesPlugin,
  ServerCore,
  ServerPlugin,
} from './plugin.js';
export type * from './presence/types.js';
export type { ApnsTokenRecord, DeviceRecord, Store } from './store/types.js';
