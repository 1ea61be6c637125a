/** @localpush/client — the device side of localpush. One `export … from` line per module. */
export { DeviceClient } from './connection/client.js';
export { ASSUMED_HEARTBEAT, DEFAULT_CONNECT_TIMEOUT_MS } from './connection/options.js';
export type { DeviceClientOptions, DeviceClientEvents } from './connection/options.js';
export { DeliveryTracker, type Arrival } from './connection/delivery.js';
export { ClientError, ClientErrorCode } from './connection/errors.js';
export { CLIENT_STATES, type ClientState, type StopReason } from './connection/states.js';
export { Backoff, backoffCeiling, DEFAULT_BACKOFF, type BackoffOptions } from './connection/backoff.js';
export { DedupeWindow, DEFAULT_DEDUPE_WINDOW } from './connection/dedupe.js';
export { spkiPin, decodePins, checkPeerPin, type PinCheck } from './connection/pinning.js';
export { parseServerUrl, isSecureScheme, URL_SCHEMES } from './connection/transports.js';
export type { ServerUrl, UrlScheme, WebSocketConstructor } from './connection/transports.js';
// The SDK layer (AppPushManager, AppPushProvider, LocalPushProvider, ProviderHost, runAgent): docs/client-sdk.md.
// Its barrel names every export explicitly and avoids the transport's names (ProviderStopReason, RelaunchBackoffOptions).
export * from './sdk/index.js';
// The network doctor (docs/network.md): the checks behind `localpush doctor`, as a library call.
export { runDoctor, formatDoctorReport, type DoctorOptions, type DoctorReport } from './doctor/doctor.js';
export { THRESHOLDS, summarise, type CheckResult, type Verdict, type CheckGroup } from './doctor/checks.js';
export { realSystem, type DoctorSystem, type ToolOutput } from './doctor/system.js';
