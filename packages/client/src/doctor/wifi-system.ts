/**
 * Reads the Wi-Fi from the system for the doctor's window: which interface carries the traffic, its
 * association (`iw dev <if> link`), its station counters and the channel survey at the start and at the
 * end, the scan cache's information elements and the supplicant's status. Everything that cannot be read
 * says why, and the checks built from it (wifi-checks.ts) are then "not runnable", never passed.
 */
import {
  parseIwLink,
  parseIwScan,
  parseIwStations,
  parseIwSurvey,
  parseWpaCliStatus,
  type StationCounters,
  type SurveyEntry,
} from '../sdk/wifi-parsers.js';
import type { CheckResult } from './checks.js';
import type { DoctorSystem, ToolOutput } from './system.js';
import { wifiChecks, wifiNotRunnable, type WifiObservation } from './wifi-checks.js';

export interface WifiOptions {
  /** The Wi-Fi interface to read; default the one the route to the server uses, else the first. */
  interface?: string;
  /** The interface the route to the server leaves through (from the route check). */
  routeDevice?: string;
}

/** A started observation: call `finish` when the window is over. */
export interface WifiWindow {
  finish(): Promise<CheckResult[]>;
}

/** Takes the first readings; `finish` takes the second and grades them. */
export async function startWifiWindow(system: DoctorSystem, options: WifiOptions = {}): Promise<WifiWindow> {
  const chosen = await chooseInterface(system, options);
  if ('why' in chosen) return done(wifiNotRunnable(chosen.why, chosen.fix));
  const iw = await system.which('iw');
  if (iw === undefined) {
    return done(
      wifiNotRunnable('iw is not installed', 'install iw (Debian: apt install iw) and run the doctor again'),
    );
  }
  const dev = chosen.name;
  const link = parseIwLink((await system.run(iw, ['dev', dev, 'link'])).stdout);
  if (!link.connected) {
    return done(
      wifiNotRunnable(
        `${dev} is not associated with an access point`,
        'connect the device to the Wi-Fi under test and run the doctor again',
      ),
    );
  }
  const obs: WifiObservation = { interface: dev, link };
  const station = async (): Promise<void> => {
    const out = await system.run(iw, ['dev', dev, 'station', 'dump']);
    const stations = parseIwStations(out.stdout);
    const ap = stations.find((s) => s.mac !== undefined && s.mac === link.bssid) ?? stations[0];
    if (ap === undefined) obs.stationError = toolError('iw station dump', out, system);
    else setStation(obs, ap);
  };
  const survey = async (): Promise<void> => {
    const out = await system.run(iw, ['dev', dev, 'survey', 'dump']);
    const entries = parseIwSurvey(out.stdout);
    if (entries.length === 0) obs.surveyError = toolError('iw survey dump', out, system);
    else setSurvey(obs, entries);
  };
  await station();
  await survey();
  return {
    async finish() {
      await station();
      await survey();
      const scan = await system.run(iw, ['dev', dev, 'scan', 'dump']);
      const bss = parseIwScan(scan.stdout);
      if (bss.length > 0) obs.scan = bss;
      else obs.scanError = toolError('iw scan dump', scan, system);
      const wpaCli = await system.which('wpa_cli');
      if (wpaCli !== undefined) {
        const out = await system.run(wpaCli, ['-i', dev, 'status']);
        if (out.code === 0) obs.wpa = parseWpaCliStatus(out.stdout);
      }
      return wifiChecks(obs);
    },
  };
}

const done = (checks: CheckResult[]): WifiWindow => ({ finish: () => Promise.resolve(checks) });

async function chooseInterface(
  system: DoctorSystem,
  options: WifiOptions,
): Promise<{ name: string } | { why: string; fix: string }> {
  const all = await system.interfaces();
  const wireless = all.filter((i) => i.wireless);
  if (options.interface !== undefined) {
    if (wireless.some((i) => i.name === options.interface)) return { name: options.interface };
    return {
      why: `${options.interface} is not a Wi-Fi interface${all.some((i) => i.name === options.interface) ? '' : ' on this host'}`,
      fix: `pass a Wi-Fi interface${wireless.length > 0 ? ` (${wireless.map((i) => i.name).join(', ')})` : ''}`,
    };
  }
  const viaRoute = wireless.find((i) => i.name === options.routeDevice);
  if (viaRoute !== undefined) return { name: viaRoute.name };
  const first = wireless[0];
  if (first === undefined) {
    const names = all.map((i) => i.name).join(', ') || 'none';
    return {
      why:
        `no Wi-Fi interface on this host (interfaces: ${names}` +
        (options.routeDevice === undefined ? ')' : `; the server is reached through ${options.routeDevice})`),
      fix: 'run the doctor on a device that uses the Wi-Fi under test (or a laptop beside it, on the same SSID)',
    };
  }
  return { name: first.name };
}

function setStation(obs: WifiObservation, ap: StationCounters): void {
  if (obs.stationBefore === undefined && obs.stationAfter === undefined) obs.stationBefore = ap;
  else obs.stationAfter = ap;
  // One reading only so far is also the last one: the checks fall back to cumulative counters.
  if (obs.stationAfter === undefined) obs.stationAfter = ap;
}

function setSurvey(obs: WifiObservation, entries: SurveyEntry[]): void {
  if (obs.surveyBefore === undefined) {
    obs.surveyBefore = entries;
    obs.surveyAfter = entries;
  } else obs.surveyAfter = entries;
}

/** Why a tool gave nothing: not permitted (most drivers need root for survey and station dumps), or its words. */
function toolError(what: string, out: ToolOutput, system: DoctorSystem): string {
  const text = `${out.stderr} ${out.error ?? ''}`.trim();
  if (/not permitted|permission denied|-1 \(EPERM\)/i.test(text) && !system.isRoot()) {
    return `${what}: not permitted (run the doctor as root or with CAP_NET_ADMIN)`;
  }
  if (/not supported|-95/i.test(text)) return `${what}: the driver does not support it`;
  return `${what} printed nothing${text === '' ? '' : ` (${text})`}`;
}
