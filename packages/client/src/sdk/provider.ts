/**
 * AppPushProvider mirrors NEAppPushProvider: subclass it, keep the connection to your server in start(),
 * drop everything in stop(). A {@link ProviderHost} (the stand-in for iOS) creates the instance, calls it,
 * and releases it after stop.
 */
import { type Clock, systemClock } from '@localpush/protocol';
import { AppPushError, AppPushErrorCode } from './errors.js';
import { type JsonObject, frozenJsonCopy, jsonProblem } from './json.js';
import type { SdkLog } from './log.js';

/** NEProviderStopReason raw values. */
export const StopReason = {
  none: 0,
  userInitiated: 1,
  providerFailed: 2,
  noNetworkAvailable: 3,
  unrecoverableNetworkChange: 4,
  providerDisabled: 5,
  authenticationCanceled: 6,
  configurationFailed: 7,
  idleTimeout: 8,
  configurationDisabled: 9,
  configurationRemoved: 10,
  superceded: 11,
  userLogout: 12,
  userSwitch: 13,
  connectionFailed: 14,
  sleep: 15,
  appUpdate: 16,
} as const;

/** One of the {@link StopReason} values. */
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/** The name of a stop reason (`3` → `noNetworkAvailable`), for logs. */
export function stopReasonName(reason: StopReason): keyof typeof StopReason {
  const entry = Object.entries(StopReason).find(([, v]) => v === reason);
  return (entry?.[0] ?? 'none') as keyof typeof StopReason;
}

/** What the host hands a provider when it creates it. */
export interface ProviderContext {
  /** The configuration's providerConfiguration at launch. */
  providerConfiguration: JsonObject;
  /** Id of the configuration this instance runs for. */
  configurationId: string;
  /** The host's clock; providers should use it for their own timers so tests stay deterministic. */
  clock: Clock;
  log: SdkLog;
  /** Forwards to the manager's delegate. */
  reportIncomingCall(userInfo: JsonObject): void;
  /** Forwards a push-to-talk message to the manager. */
  reportPushToTalkMessage(userInfo: JsonObject): void;
  /** Tells the host that the current Ethernet network is not a match. */
  unmatchEthernet(): void;
}

/**
 * Well-known symbols (Symbol.for, so that a provider compiled against another copy of this package — dist
 * vs. sources — still plugs in) through which the host drives a provider without public methods.
 * @internal
 */
export const providerAttach = Symbol.for('localpush.provider.attach');
/** @internal */
export const providerUpdate = Symbol.for('localpush.provider.updateConfiguration');
/** @internal */
export const providerDetach = Symbol.for('localpush.provider.detach');

/** The base class of push providers (NEAppPushProvider). */
export abstract class AppPushProvider {
  // Held only between attach and detach: after stop the instance must not keep the host reachable, and the
  // host must not keep the instance reachable (the retain-cycle rule of Apple's guide).
  private context: ProviderContext | undefined;
  private config: Readonly<JsonObject> = Object.freeze({});

  /**
   * Connect to the server. Resolve when the provider is up (the manager's isActive becomes true); reject
   * for a failed start (the host relaunches it later with back-off).
   */
  abstract start(): Promise<void>;

  /** Disconnect and release everything. After the promise settles the host drops the instance. */
  abstract stop(reason: StopReason): Promise<void>;

  /** Called every 60 s while running: check the connection and reconnect when it went silent. */
  handleTimerEvent(): void | Promise<void> {
    // Default: nothing to check.
  }

  /**
   * Called when the app saves a new providerConfiguration while this instance runs; `previous` is the old
   * one, {@link providerConfiguration} already holds the new one.
   */
  providerConfigurationDidChange(_previous: Readonly<JsonObject>): void | Promise<void> {
    // Default: the new value is simply visible through providerConfiguration.
  }

  /** The configuration's providerConfiguration (frozen). */
  get providerConfiguration(): Readonly<JsonObject> {
    return this.config;
  }

  /** The host's clock (the system clock before the host attached the instance). */
  protected get clock(): Clock {
    return this.context?.clock ?? systemClock;
  }

  /** The host's log function. */
  protected get log(): SdkLog {
    return this.context?.log ?? (() => undefined);
  }

  /** Hands an incoming call to the app's delegate. userInfo must be JSON (configurationInvalid otherwise). */
  reportIncomingCall(userInfo: JsonObject): void {
    this.requireContext('reportIncomingCall').reportIncomingCall(checkUserInfo(userInfo));
  }

  /** Hands a push-to-talk message to the app. */
  reportPushToTalkMessage(userInfo: JsonObject): void {
    this.requireContext('reportPushToTalkMessage').reportPushToTalkMessage(checkUserInfo(userInfo));
  }

  /** Tells the host the current wired network is not a match; it stops the provider if nothing else matches. */
  unmatchEthernet(): void {
    this.requireContext('unmatchEthernet').unmatchEthernet();
  }

  /** @internal */
  [providerAttach](context: ProviderContext): void {
    this.context = context;
    this.config = frozenJsonCopy(context.providerConfiguration);
  }

  /** @internal */
  async [providerUpdate](configuration: JsonObject): Promise<void> {
    const previous = this.config;
    this.config = frozenJsonCopy(configuration);
    await this.providerConfigurationDidChange(previous);
  }

  /** @internal */
  [providerDetach](): void {
    this.context = undefined;
  }

  private requireContext(what: string): ProviderContext {
    if (this.context === undefined) {
      throw new AppPushError(AppPushErrorCode.inactiveSession, `${what}: the provider is not running`);
    }
    return this.context;
  }
}

function checkUserInfo(userInfo: JsonObject): JsonObject {
  const problem =
    typeof userInfo !== 'object' || userInfo === null || Array.isArray(userInfo)
      ? 'userInfo must be an object'
      : jsonProblem(userInfo, 'userInfo');
  if (problem !== undefined) throw new AppPushError(AppPushErrorCode.configurationInvalid, problem);
  return structuredClone(userInfo);
}

/** A class whose instances are providers; what the registry resolves a bundle identifier to. */
export type ProviderClass = new () => AppPushProvider;
