/**
 * AppPushManager mirrors NEAppPushManager: an app-side handle on one persisted configuration (on which
 * networks a provider runs, and with what providerConfiguration), plus the delegate that receives the
 * incoming calls the provider reports.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { AppPushError, AppPushErrorCode } from './errors.js';
import { type JsonObject, frozenJsonCopy } from './json.js';
import {
  type AppPushConfiguration,
  type PrivateLTENetwork,
  matchesAnyNetwork,
  overlaps,
  validateConfiguration,
  validateLTENetworks,
  validateProviderConfiguration,
  validateSSIDs,
} from './configuration.js';
import type { PreferencesStore } from './preferences.js';

/** Receives what a running provider reports for this manager's configuration (NEAppPushDelegate). */
export interface AppPushDelegate {
  /** The provider called reportIncomingCall(userInfo); show the call UI here. */
  appPushManagerDidReceiveIncomingCall(manager: AppPushManager, userInfo: JsonObject): void;
}

/**
 * Events of {@link AppPushManager}: `incomingCall` (userInfo), `pushToTalk` (userInfo), `activeChange`
 * (isActive). They fire alongside the delegate, for code that prefers listeners.
 */
export const AppPushManagerEvent = {
  incomingCall: 'incomingCall',
  pushToTalk: 'pushToTalk',
  activeChange: 'activeChange',
} as const;

/**
 * The side door through which a {@link ProviderHost} updates a manager; a symbol so that it is not part of
 * the public surface (an app cannot fake isActive).
 * @internal
 */
export const hostBridge = Symbol('localpush.hostBridge');

/** @internal */
export interface HostBridge {
  setActive(active: boolean): void;
  incomingCall(userInfo: JsonObject): void;
  pushToTalk(userInfo: JsonObject): void;
}

/** A configuration handle mirroring NEAppPushManager. */
export class AppPushManager extends EventEmitter {
  /**
   * Receives incoming calls. Held strongly: Apple's is weak to break an Objective-C retain cycle, which a
   * tracing garbage collector does not have.
   */
  delegate: AppPushDelegate | undefined;
  /** Human description of the configuration. */
  localizedDescription = '';
  /** Whether the configuration may run; the system may clear it on save (see saveToPreferences). */
  isEnabled = false;
  /** Also run on wired Ethernet. */
  matchEthernet = false;
  /** Which provider implementation to launch (see the provider registry in docs/client-sdk.md). */
  providerBundleIdentifier: string | undefined;

  private readonly store: PreferencesStore;
  private id: string | undefined;
  private ssids: readonly string[] = Object.freeze([]);
  private lte: readonly PrivateLTENetwork[] = Object.freeze([]);
  private config: Readonly<JsonObject> = Object.freeze({});
  private active = false;

  /** A new, unsaved configuration persisted in `store`. */
  constructor(store: PreferencesStore) {
    super();
    this.store = store;
  }

  /** Loads every saved configuration of `store` (NEAppPushManager.loadAllFromPreferences). */
  static async loadAllFromPreferences(store: PreferencesStore): Promise<AppPushManager[]> {
    const doc = await store.read();
    return doc.configurations.map((c) => {
      const m = new AppPushManager(store);
      m.assign(c);
      return m;
    });
  }

  /** The configuration's persistent id; undefined until the first save or load. */
  get configurationId(): string | undefined {
    return this.id;
  }

  /** Wi-Fi SSIDs to run on: at most 10 non-empty strings. Throws configurationInvalid on set. */
  get matchSSIDs(): readonly string[] {
    return this.ssids;
  }

  set matchSSIDs(value: readonly string[]) {
    const copy = [...value];
    validateSSIDs(copy);
    this.ssids = Object.freeze(copy);
  }

  /** Private LTE networks to run on: at most 10. Throws configurationInvalid on set. */
  get matchPrivateLTENetworks(): readonly PrivateLTENetwork[] {
    return this.lte;
  }

  set matchPrivateLTENetworks(value: readonly PrivateLTENetwork[]) {
    const copy = value.map((n) => ({ ...n }));
    validateLTENetworks(copy);
    this.lte = Object.freeze(copy.map((n) => Object.freeze(n)));
  }

  /**
   * Handed to the provider as is. JSON values only, validated deeply on set (configurationInvalid); stored
   * as a frozen copy so a later mutation of the caller's object cannot smuggle in a non-JSON value.
   */
  get providerConfiguration(): Readonly<JsonObject> {
    return this.config;
  }

  set providerConfiguration(value: JsonObject) {
    validateProviderConfiguration(value);
    this.config = frozenJsonCopy(value);
  }

  /** True once the provider's start completed without error. It says nothing about the server. */
  get isActive(): boolean {
    return this.active;
  }

  /**
   * Re-reads this configuration from the store; configurationNotLoaded if it was removed meanwhile,
   * configurationInvalid (naming the field) if its stored record breaks a rule (edited by hand).
   */
  async loadFromPreferences(): Promise<void> {
    if (this.id === undefined) return; // Like iOS: loading a never-saved manager is a harmless no-op.
    const doc = await this.store.read();
    const found = doc.configurations.find((c) => c.id === this.id);
    if (found === undefined) {
      const bad = doc.rejected?.find((r) => r.section === 'configurations' && r.id === this.id);
      if (bad !== undefined) throw new AppPushError(AppPushErrorCode.configurationInvalid, bad.message);
      throw new AppPushError(AppPushErrorCode.configurationNotLoaded, 'the configuration is no longer saved');
    }
    this.assign(found);
  }

  /**
   * Validates and saves: the record is checked by the same validator that every reader of the store
   * applies (configurationInvalid, naming the field, and nothing is written), so a save can never leave
   * a file that does not load — not even with a non-boolean `matchEthernet` assigned from JavaScript. A
   * configuration matching no network is saved disabled; saving an enabled one disables the other
   * enabled configurations of the same app (see appIdOf) that share an SSID with it.
   */
  async saveToPreferences(): Promise<void> {
    const id = this.id ?? randomUUID();
    // The public fields as they are, unconverted: the validator must see what a caller really assigned.
    const cfg = {
      id,
      providerBundleIdentifier: this.providerBundleIdentifier,
      matchSSIDs: [...this.ssids],
      matchPrivateLTENetworks: this.lte.map((n) => ({ ...n })),
      matchEthernet: this.matchEthernet,
      providerConfiguration: structuredClone(this.config),
      localizedDescription: this.localizedDescription,
      isEnabled: this.isEnabled,
    };
    validateConfiguration(cfg);
    cfg.isEnabled &&= matchesAnyNetwork(cfg);
    await this.store.update((doc) => {
      if (cfg.isEnabled) {
        for (const other of doc.configurations) {
          if (other.id !== id && other.isEnabled && overlaps(cfg, other)) other.isEnabled = false;
        }
      }
      const i = doc.configurations.findIndex((c) => c.id === id);
      if (i >= 0) doc.configurations[i] = cfg;
      else doc.configurations.push(cfg);
      return doc;
    });
    this.id = id;
    this.isEnabled = cfg.isEnabled;
  }

  /** Removes the configuration; its provider (if running) is stopped with `configurationRemoved`. */
  async removeFromPreferences(): Promise<void> {
    const id = this.id;
    if (id === undefined) {
      throw new AppPushError(
        AppPushErrorCode.configurationNotLoaded,
        'the configuration was never saved or loaded',
      );
    }
    let found = false;
    await this.store.update((doc) => {
      const before = doc.configurations.length;
      doc.configurations = doc.configurations.filter((c) => c.id !== id);
      found = doc.configurations.length !== before;
      return doc;
    });
    if (!found)
      throw new AppPushError(AppPushErrorCode.configurationNotLoaded, 'the configuration is not saved');
    this.id = undefined;
  }

  /** @internal */
  get [hostBridge](): HostBridge {
    return {
      setActive: (active) => {
        if (this.active === active) return;
        this.active = active;
        this.emit(AppPushManagerEvent.activeChange, active);
      },
      incomingCall: (userInfo) => {
        this.delegate?.appPushManagerDidReceiveIncomingCall(this, userInfo);
        this.emit(AppPushManagerEvent.incomingCall, userInfo);
      },
      pushToTalk: (userInfo) => {
        this.emit(AppPushManagerEvent.pushToTalk, userInfo);
      },
    };
  }

  private assign(c: AppPushConfiguration): void {
    this.id = c.id;
    this.providerBundleIdentifier = c.providerBundleIdentifier;
    this.matchSSIDs = c.matchSSIDs;
    this.matchPrivateLTENetworks = c.matchPrivateLTENetworks;
    this.matchEthernet = c.matchEthernet;
    this.providerConfiguration = c.providerConfiguration;
    this.localizedDescription = c.localizedDescription;
    this.isEnabled = c.isEnabled;
  }
}
