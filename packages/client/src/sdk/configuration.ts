/**
 * The persisted form of an AppPushManager configuration, its validation, and the rules that decide on which
 * networks it runs. Pure functions: the manager, the preferences store and the host all share them.
 */
import { AppPushError, AppPushErrorCode } from './errors.js';
import { type JsonObject, jsonProblem } from './json.js';

/** Apple's limit on `matchSSIDs` and `matchPrivateLTENetworks` entries. */
export const MAX_MATCH_ENTRIES = 10;

/** A private LTE network, as NEPrivateLTENetwork. */
export interface PrivateLTENetwork {
  /** Exactly 3 decimal digits. */
  mobileCountryCode: string;
  /** 2 or 3 decimal digits. */
  mobileNetworkCode: string;
  /** 1–5 decimal digits; when absent any tracking area of the network matches. */
  trackingAreaCode?: string;
}

/** A configuration as stored in preferences and handed to the host. */
export interface AppPushConfiguration {
  /** Stable identity, assigned on the first save. */
  id: string;
  providerBundleIdentifier: string;
  matchSSIDs: string[];
  matchPrivateLTENetworks: PrivateLTENetwork[];
  matchEthernet: boolean;
  providerConfiguration: JsonObject;
  localizedDescription: string;
  isEnabled: boolean;
}

/** The network the device is on right now, as a {@link NetworkMonitor} reports it. */
export interface NetworkState {
  /** SSID of the joined Wi-Fi network, absent when not on Wi-Fi. */
  ssid?: string;
  /** The private LTE cell the device is attached to, if any. */
  lte?: { mcc: string; mnc: string; tac?: string };
  /** True when a wired Ethernet link is up. */
  ethernet: boolean;
}

function invalid(message: string): AppPushError {
  return new AppPushError(AppPushErrorCode.configurationInvalid, message);
}

/** Throws configurationInvalid unless `ssids` is a valid matchSSIDs value. */
export function validateSSIDs(ssids: unknown): asserts ssids is string[] {
  if (!Array.isArray(ssids)) throw invalid('matchSSIDs must be an array of strings');
  if (ssids.length > MAX_MATCH_ENTRIES)
    throw invalid(`matchSSIDs holds at most ${MAX_MATCH_ENTRIES} entries`);
  for (const s of ssids) {
    if (typeof s !== 'string' || s.length === 0)
      throw invalid('matchSSIDs entries must be non-empty strings');
    // 802.11 limits an SSID to 32 octets; a longer one can never match and is a typo.
    if (Buffer.byteLength(s, 'utf8') > 32) throw invalid(`SSID ${JSON.stringify(s)} is longer than 32 bytes`);
  }
}

/** Throws configurationInvalid unless `nets` is a valid matchPrivateLTENetworks value. */
export function validateLTENetworks(nets: unknown): asserts nets is PrivateLTENetwork[] {
  if (!Array.isArray(nets)) throw invalid('matchPrivateLTENetworks must be an array');
  if (nets.length > MAX_MATCH_ENTRIES) {
    throw invalid(`matchPrivateLTENetworks holds at most ${MAX_MATCH_ENTRIES} entries`);
  }
  for (const n of nets as unknown[]) {
    if (typeof n !== 'object' || n === null) throw invalid('matchPrivateLTENetworks entries must be objects');
    const {
      mobileCountryCode: mcc,
      mobileNetworkCode: mnc,
      trackingAreaCode: tac,
    } = n as Record<string, unknown>;
    if (typeof mcc !== 'string' || !/^\d{3}$/.test(mcc)) throw invalid('mobileCountryCode must be 3 digits');
    if (typeof mnc !== 'string' || !/^\d{2,3}$/.test(mnc))
      throw invalid('mobileNetworkCode must be 2-3 digits');
    if (tac !== undefined && (typeof tac !== 'string' || !/^\d{1,5}$/.test(tac))) {
      throw invalid('trackingAreaCode must be 1-5 digits');
    }
  }
}

/** Throws configurationInvalid unless `value` is a JSON object. */
export function validateProviderConfiguration(value: unknown): asserts value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('providerConfiguration must be a JSON object');
  }
  const problem = jsonProblem(value, 'providerConfiguration');
  if (problem !== undefined) throw invalid(`providerConfiguration is not JSON: ${problem}`);
}

/** Validates a whole configuration, as on save or when read back from a file someone edited by hand. */
export function validateConfiguration(c: unknown): asserts c is AppPushConfiguration {
  if (typeof c !== 'object' || c === null) throw invalid('configuration must be an object');
  const r = c as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id.length === 0) throw invalid('configuration id is missing');
  if (typeof r.providerBundleIdentifier !== 'string' || r.providerBundleIdentifier.trim() === '') {
    throw invalid('providerBundleIdentifier is required');
  }
  validateSSIDs(r.matchSSIDs);
  validateLTENetworks(r.matchPrivateLTENetworks);
  if (typeof r.matchEthernet !== 'boolean') throw invalid('matchEthernet must be a boolean');
  validateProviderConfiguration(r.providerConfiguration);
  if (typeof r.localizedDescription !== 'string') throw invalid('localizedDescription must be a string');
  if (typeof r.isEnabled !== 'boolean') throw invalid('isEnabled must be a boolean');
}

/**
 * The app a provider belongs to: its bundle identifier without the last dot-separated component, as an iOS
 * extension's bundle id is its app's id plus one component (`com.acme.chat.push` → `com.acme.chat`). An id
 * without a dot is its own app. This decides which configurations the overlapping-SSID rule compares.
 */
export function appIdOf(providerBundleIdentifier: string): string {
  const i = providerBundleIdentifier.lastIndexOf('.');
  return i <= 0 ? providerBundleIdentifier : providerBundleIdentifier.slice(0, i);
}

/** True when the configuration names at least one kind of network; one that names none is saved disabled. */
export function matchesAnyNetwork(
  c: Pick<AppPushConfiguration, 'matchSSIDs' | 'matchPrivateLTENetworks' | 'matchEthernet'>,
): boolean {
  return c.matchSSIDs.length > 0 || c.matchPrivateLTENetworks.length > 0 || c.matchEthernet;
}

/** True when two configurations of one app share an SSID (the case where iOS disables the older one). */
export function overlaps(a: AppPushConfiguration, b: AppPushConfiguration): boolean {
  if (appIdOf(a.providerBundleIdentifier) !== appIdOf(b.providerBundleIdentifier)) return false;
  const set = new Set(a.matchSSIDs);
  return b.matchSSIDs.some((s) => set.has(s));
}

/**
 * Why a configuration matches `net`, or undefined when it does not. `ethernetUnmatched` is set once the
 * provider called unmatchEthernet() for the current wired link.
 */
export function matchNetwork(
  c: AppPushConfiguration,
  net: NetworkState,
  ethernetUnmatched = false,
): 'ssid' | 'lte' | 'ethernet' | undefined {
  if (net.ssid !== undefined && c.matchSSIDs.includes(net.ssid)) return 'ssid';
  const lte = net.lte;
  if (
    lte !== undefined &&
    c.matchPrivateLTENetworks.some(
      (n) =>
        n.mobileCountryCode === lte.mcc &&
        n.mobileNetworkCode === lte.mnc &&
        (n.trackingAreaCode === undefined || n.trackingAreaCode === lte.tac),
    )
  ) {
    return 'lte';
  }
  if (net.ethernet && c.matchEthernet && !ethernetUnmatched) return 'ethernet';
  return undefined;
}

/** Structural equality of two network states, so monitors only report real changes. */
export function sameNetwork(a: NetworkState, b: NetworkState): boolean {
  return (
    a.ssid === b.ssid &&
    a.ethernet === b.ethernet &&
    a.lte?.mcc === b.lte?.mcc &&
    a.lte?.mnc === b.lte?.mnc &&
    a.lte?.tac === b.lte?.tac
  );
}
