/**
 * The SDK layer of @localpush/client: AppPushManager, AppPushProvider, LocalPushProvider, ProviderHost
 * and the agent. See docs/client-sdk.md.
 */
export {
  AppPushError,
  AppPushErrorCode,
  AppPushErrorStringCode,
  APP_PUSH_ERROR_DOMAIN,
  isAppPushError,
  ProviderHostError,
  ProviderHostErrorCode,
} from './errors.js';
export { type JsonObject, jsonProblem, isJsonObject } from './json.js';
export {
  type AppPushConfiguration,
  type PrivateLTENetwork,
  type NetworkState,
  MAX_MATCH_ENTRIES,
  appIdOf,
  matchNetwork,
  matchesAnyNetwork,
  overlaps,
  validateConfiguration,
} from './configuration.js';
export {
  type PreferencesStore,
  type PreferencesDocument,
  type ProviderModuleRef,
  type FilePreferencesStoreOptions,
  type RejectedRecord,
  FilePreferencesStore,
  MemoryPreferencesStore,
  parsePreferences,
  readPreferences,
  storedPreferences,
} from './preferences.js';
export { AppPushManager, AppPushManagerEvent, type AppPushDelegate } from './manager.js';
// Exported as ProviderStopReason: the package root also exports the transport's own StopReason type
// (why a DeviceClient stopped), which is a different thing.
export {
  AppPushProvider,
  StopReason as ProviderStopReason,
  stopReasonName,
  type ProviderContext,
  type ProviderClass,
} from './provider.js';
export {
  type PushConnection,
  type PushConnectionOptions,
  type PushConnectionFactory,
  connectDeviceClient,
} from './connection.js';
export {
  LocalPushProvider,
  type LocalPushProviderOptions,
  type LocalPushSettings,
  type LocalPushProviderStats,
  readLocalPushSettings,
  notificationFromPush,
} from './local-provider.js';
export {
  type Notifier,
  type Notification,
  ConsoleNotifier,
  NotifySendNotifier,
  OsascriptNotifier,
  FallbackNotifier,
  createDesktopNotifier,
} from './notifier.js';
export {
  type NetworkMonitor,
  type NetworkProbe,
  type PollingNetworkMonitorOptions,
  NO_NETWORK,
  ScriptedNetworkMonitor,
  PollingNetworkMonitor,
  createSystemNetworkMonitor,
  linuxProbe,
  macosProbe,
  windowsProbe,
} from './network.js';
export * from './network-parsers.js';
export {
  ProviderHost,
  ProviderHostEvent,
  type ProviderHostOptions,
  type Isolation,
  type RelaunchBackoffOptions,
  DEFAULT_MEMORY_LIMIT_MB,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  TIMER_INTERVAL_MS,
} from './host.js';
export type { CrashKind } from './instance.js';
export {
  LOCAL_PUSH_PROVIDER_BUNDLE_ID,
  BUILTIN_PROVIDERS,
  type ProviderRegistration,
  type ProviderRegistry,
} from './registry.js';
export { runAgent, type AgentOptions, type Agent } from './agent.js';
export { type SdkLog, type LogLevel, silentLog, consoleLog } from './log.js';
