/**
 * The Wi-Fi half of the doctor as pure functions: what the tools said (parsed) in, checks out. The
 * figures are Apple's: channel utilisation from the survey's busy / active time against 40 %,
 * retransmissions as Δ tx retries / Δ tx packets over the window against 15 %, and whether the network
 * offers the roaming enhancements 802.11r, 802.11k and 802.11v.
 */
import {
  bandOf,
  channelOf,
  isFtKeyMgmt,
  type IwLink,
  type ScanBss,
  type StationCounters,
  type SurveyEntry,
  type WpaStatus,
} from '../sdk/wifi-parsers.js';
import {
  THRESHOLDS,
  describeLimit,
  grade,
  percent,
  skipped,
  worst,
  type CheckResult,
  type Verdict,
} from './checks.js';

/** Everything read from the system about one Wi-Fi interface during the doctor's window. */
export interface WifiObservation {
  interface: string;
  link: IwLink;
  /** Station counters for the access point at the start and end of the window. */
  stationBefore?: StationCounters;
  stationAfter?: StationCounters;
  /** Why no station counters could be read, when none could. */
  stationError?: string;
  surveyBefore?: SurveyEntry[];
  surveyAfter?: SurveyEntry[];
  surveyError?: string;
  scan?: ScanBss[];
  scanError?: string;
  wpa?: WpaStatus;
}

/** A ratio with where it came from: the doctor's window, or the counters' whole life. */
export type Measured<T> =
  ({ ok: true; basis: 'window' | 'cumulative' | 'since-reset' } & T) | { ok: false; error: string };

/** Channel utilisation = busy / active time of the channel in use, over the window when possible. */
export function channelUtilisation(
  before: readonly SurveyEntry[] | undefined,
  after: readonly SurveyEntry[],
  freqMhz: number | undefined,
): Measured<{ ratio: number; activeMs: number; busyMs: number; freqMhz: number }> {
  const pick = (list: readonly SurveyEntry[] | undefined): SurveyEntry | undefined =>
    list?.find((e) => e.inUse) ?? list?.find((e) => e.freqMhz === freqMhz);
  const now = pick(after);
  if (now === undefined) {
    return {
      ok: false,
      error: `the survey has no entry for the channel in use${freqMhz ? ` (${freqMhz} MHz)` : ''}`,
    };
  }
  if (now.busyMs === undefined || now.activeMs === undefined) {
    return {
      ok: false,
      error: `the driver reports no channel ${now.busyMs === undefined ? 'busy' : 'active'} time for ${now.freqMhz} MHz (its survey has ${surveyFields(now)})`,
    };
  }
  const then = pick(before);
  if (then?.busyMs !== undefined && then.activeMs !== undefined && then.freqMhz === now.freqMhz) {
    const activeMs = now.activeMs - then.activeMs;
    const busyMs = now.busyMs - then.busyMs;
    if (activeMs > 0 && busyMs >= 0) {
      return { ok: true, basis: 'window', ratio: busyMs / activeMs, activeMs, busyMs, freqMhz: now.freqMhz };
    }
    // Some drivers (ath10k before its 2020 fix) reset the counters between reads: use the second read alone.
    if (now.activeMs > 0) {
      return {
        ok: true,
        basis: 'since-reset',
        ratio: now.busyMs / now.activeMs,
        activeMs: now.activeMs,
        busyMs: now.busyMs,
        freqMhz: now.freqMhz,
      };
    }
  }
  if (now.activeMs <= 0) return { ok: false, error: `the channel's active time is ${now.activeMs} ms` };
  return {
    ok: true,
    basis: 'cumulative',
    ratio: now.busyMs / now.activeMs,
    activeMs: now.activeMs,
    busyMs: now.busyMs,
    freqMhz: now.freqMhz,
  };
}

function surveyFields(entry: SurveyEntry): string {
  const present = Object.keys(entry).filter((k) => k !== 'freqMhz' && k !== 'inUse');
  return present.length === 0 ? 'nothing but the frequency' : `only ${present.join(', ')}`;
}

/** Retransmissions = Δ tx retries / Δ tx packets to the access point; and Δ tx failed / Δ tx packets. */
export function retransmissionRatio(
  before: StationCounters | undefined,
  after: StationCounters | undefined,
): Measured<{ ratio: number; failedRatio?: number; packets: number; retries: number }> {
  if (after === undefined) return { ok: false, error: 'no station counters for the access point' };
  if (after.txRetries === undefined || after.txPackets === undefined) {
    return {
      ok: false,
      error: `the driver reports no tx ${after.txPackets === undefined ? 'packets' : 'retries'}`,
    };
  }
  let basis: 'window' | 'cumulative' = 'cumulative';
  let packets = after.txPackets;
  let retries = after.txRetries;
  let failed = after.txFailed;
  if (before?.txPackets !== undefined && before.txRetries !== undefined) {
    const dp = after.txPackets - before.txPackets;
    const dr = after.txRetries - before.txRetries;
    if (dp > 0 && dr >= 0) {
      basis = 'window';
      packets = dp;
      retries = dr;
      failed =
        after.txFailed !== undefined && before.txFailed !== undefined
          ? after.txFailed - before.txFailed
          : undefined;
    }
  }
  if (packets <= 0) return { ok: false, error: 'no frames were sent to the access point' };
  const result = { ok: true as const, basis, ratio: retries / packets, packets, retries };
  return failed === undefined ? result : { ...result, failedRatio: Math.max(0, failed) / packets };
}

const BASIS_WORDS = {
  window: 'over the window',
  cumulative: 'since association (no second reading)',
  'since-reset': 'since the driver last reset its counters',
} as const;

/** The association itself: SSID, BSSID, band, channel, signal — graded on the signal. */
function associationCheck(obs: WifiObservation): CheckResult {
  const { link } = obs;
  const freq = link.freqMhz;
  const where = [
    link.ssid !== undefined ? `SSID "${link.ssid}"` : 'SSID not reported',
    link.bssid !== undefined ? `BSSID ${link.bssid}` : 'BSSID not reported',
    freq !== undefined
      ? `${bandOf(freq) ?? `${freq} MHz`} channel ${channelOf(freq) ?? '?'}`
      : 'frequency not reported',
  ].join(', ');
  const values = {
    interface: obs.interface,
    ssid: link.ssid ?? null,
    bssid: link.bssid ?? null,
    freqMhz: freq ?? null,
    band: freq === undefined ? null : (bandOf(freq) ?? null),
    channel: freq === undefined ? null : (channelOf(freq) ?? null),
    signalDbm: link.signalDbm ?? null,
  };
  if (link.signalDbm === undefined) {
    return {
      id: 'wifi-association',
      group: 'wifi',
      verdict: 'warn',
      measured: `${where}; no signal figure`,
      values,
    };
  }
  const verdict = grade(link.signalDbm, THRESHOLDS.signal);
  const result: CheckResult = {
    id: 'wifi-association',
    group: 'wifi',
    verdict,
    measured: `${where}, signal ${link.signalDbm} dBm on ${obs.interface}`,
    threshold: `signal ${describeLimit(THRESHOLDS.signal, (n) => `${n} dBm`)}`,
    values,
  };
  if (verdict !== 'pass') {
    result.fix = `a signal of ${link.signalDbm} dBm is weak: add or move access points so devices see -67 dBm or better where they are used.`;
  }
  return result;
}

function utilisationCheck(obs: WifiObservation): CheckResult {
  if (obs.surveyAfter === undefined) {
    return skipped(
      'channel-utilisation',
      'wifi',
      obs.surveyError ?? 'no survey was read',
      surveyFix(obs.surveyError),
    );
  }
  const u = channelUtilisation(obs.surveyBefore, obs.surveyAfter, obs.link.freqMhz);
  if (!u.ok) {
    return skipped(
      'channel-utilisation',
      'wifi',
      u.error,
      'use a Wi-Fi adapter whose driver reports channel busy time, or read utilisation on the access point.',
    );
  }
  const channel = channelOf(u.freqMhz) ?? `${u.freqMhz} MHz`;
  const verdict = grade(u.ratio, THRESHOLDS.channelUtilisation);
  const result: CheckResult = {
    id: 'channel-utilisation',
    group: 'wifi',
    verdict,
    measured: `channel ${channel} was ${percent(u.ratio)} busy ${BASIS_WORDS[u.basis]} (${u.busyMs} of ${u.activeMs} ms)`,
    threshold: describeLimit(THRESHOLDS.channelUtilisation, percent),
    values: { ratio: u.ratio, busyMs: u.busyMs, activeMs: u.activeMs, freqMhz: u.freqMhz, basis: u.basis },
  };
  if (verdict !== 'pass') {
    result.fix =
      bandOf(u.freqMhz) === '2.4 GHz'
        ? `channel ${channel} is ${percent(u.ratio)} busy: move the SSID to a less used channel or to the 5 GHz band, and carry fewer SSIDs per radio.`
        : `channel ${channel} is ${percent(u.ratio)} busy: move the SSID to a less used channel, narrow the channel width, or add access points with smaller cells.`;
  }
  return result;
}

function surveyFix(error: string | undefined): string {
  return error !== undefined && /not (installed|found)/.test(error)
    ? 'install iw (Debian: apt install iw) so the doctor can read the channel survey.'
    : 'read the channel utilisation on the access point instead.';
}

function retransmissionCheck(obs: WifiObservation): CheckResult {
  if (obs.stationAfter === undefined) {
    return skipped(
      'retransmissions',
      'wifi',
      obs.stationError ?? 'no station counters were read',
      'read the retry counters on the access point, or use a driver that reports them (iw station get).',
    );
  }
  const r = retransmissionRatio(obs.stationBefore, obs.stationAfter);
  if (!r.ok) {
    return skipped(
      'retransmissions',
      'wifi',
      r.error,
      'read the retry counters on the access point instead.',
    );
  }
  let verdict: Verdict = grade(r.ratio, THRESHOLDS.retransmissions);
  if (r.failedRatio !== undefined) verdict = worst(verdict, grade(r.failedRatio, THRESHOLDS.txFailed));
  const failed = r.failedRatio === undefined ? '' : `, ${percent(r.failedRatio)} failed after all retries`;
  const result: CheckResult = {
    id: 'retransmissions',
    group: 'wifi',
    verdict,
    measured: `${percent(r.ratio)} of frames to the access point were retried ${BASIS_WORDS[r.basis]} (${r.retries} retries for ${r.packets} frames${failed})`,
    threshold: `retries ${describeLimit(THRESHOLDS.retransmissions, percent)}; failed ${describeLimit(THRESHOLDS.txFailed, percent)}`,
    values: {
      ratio: r.ratio,
      failedRatio: r.failedRatio ?? null,
      packets: r.packets,
      retries: r.retries,
      basis: r.basis,
    },
  };
  if (verdict !== 'pass') {
    result.fix = `${percent(r.ratio)} of frames needed a retry: look for interference or a weak signal — change the channel, move the device or access point, and turn off the legacy 802.11b rates.`;
  }
  return result;
}

/** The access point the device is on, as the scan cache knows it. */
function currentBss(obs: WifiObservation): ScanBss | undefined {
  const scan = obs.scan ?? [];
  return (
    (obs.link.bssid !== undefined ? scan.find((b) => b.bssid === obs.link.bssid) : undefined) ??
    scan.find((b) => b.associated)
  );
}

const ROAMING = {
  'roaming-802.11r': {
    name: '802.11r Fast Transition',
    fix: 'enable 802.11r (FT-PSK, FT-802.1X or FT-SAE) on the access points if every client supports it, so a roam does not redo the whole handshake.',
  },
  'roaming-802.11k': {
    name: '802.11k neighbour reports',
    fix: 'enable 802.11k neighbour reports so devices learn where to roam without a full scan.',
  },
  'roaming-802.11v': {
    name: '802.11v BSS transition',
    fix: 'enable 802.11v BSS transition management so the network can steer devices to a better access point.',
  },
} as const;

function roamingChecks(obs: WifiObservation): CheckResult[] {
  const bss = currentBss(obs);
  const ftInUse = isFtKeyMgmt(obs.wpa?.keyMgmt);
  const ids = Object.keys(ROAMING) as (keyof typeof ROAMING)[];
  if (bss === undefined && !ftInUse) {
    const why =
      obs.scanError ??
      `the scan cache has no entry for the access point${obs.link.bssid ? ` ${obs.link.bssid}` : ''}`;
    return ids.map((id) =>
      skipped(
        id,
        'wifi',
        why,
        `let the system scan once (sudo iw dev ${obs.interface} scan), then run the doctor again.`,
      ),
    );
  }
  const offered: Record<keyof typeof ROAMING, { ok: boolean; how: string }> = {
    'roaming-802.11r': ftInUse
      ? { ok: true, how: `in use (supplicant key_mgmt=${obs.wpa?.keyMgmt ?? ''})` }
      : { ok: bss?.fastTransition ?? false, how: `AKMs offered: ${bss?.akms.join(' ') || 'none listed'}` },
    'roaming-802.11k': {
      ok: bss?.neighborReport ?? false,
      how: bss?.radioMeasurement
        ? bss.neighborReport
          ? 'RM Enabled Capabilities with Neighbor Report'
          : 'RM Enabled Capabilities without Neighbor Report'
        : 'no RM Enabled Capabilities element',
    },
    'roaming-802.11v': {
      ok: bss?.bssTransition ?? false,
      how: bss?.bssTransition
        ? 'Extended Capabilities: BSS Transition'
        : 'BSS Transition not in Extended Capabilities',
    },
  };
  return ids.map((id) => {
    if (bss === undefined && id !== 'roaming-802.11r') {
      return skipped(id, 'wifi', 'the scan cache has no entry for the access point', ROAMING[id].fix);
    }
    const { ok, how } = offered[id];
    const result: CheckResult = {
      id,
      group: 'wifi',
      verdict: ok ? 'pass' : 'warn',
      measured: `${ROAMING[id].name} ${ok ? 'offered' : 'not offered'}: ${how}`,
      threshold: 'offered where the deployment allows (Apple)',
      values: { offered: ok },
    };
    if (!ok) result.fix = ROAMING[id].fix;
    return result;
  });
}

/** Every Wi-Fi check for one associated interface. */
export function wifiChecks(obs: WifiObservation): CheckResult[] {
  return [associationCheck(obs), utilisationCheck(obs), retransmissionCheck(obs), ...roamingChecks(obs)];
}

/** The Wi-Fi checks when none can run (no interface, not associated, no tools), each saying why. */
export function wifiNotRunnable(why: string, fix: string): CheckResult[] {
  return [
    'wifi-association',
    'channel-utilisation',
    'retransmissions',
    ...(Object.keys(ROAMING) as (keyof typeof ROAMING)[]),
  ].map((id) => skipped(id, 'wifi', why, fix));
}
