/**
 * Pure parsers for what Linux tools say about a Wi-Fi link: `iw dev <if> link`, `station get|dump`,
 * `survey dump` and `scan dump`, `wpa_cli status`, and NetworkManager's terse `nmcli` tables. The network
 * doctor runs the tools; these functions only read text, so each one is tested on outputs recorded from
 * real drivers and tool versions (packages/client/test/doctor/fixtures, with their sources).
 *
 * Every parser is forgiving in the same way: whitespace and indentation are whatever the tool (or the mail
 * or issue a sample was copied from) produced, unknown lines are skipped, and a field a driver does not
 * report is left undefined rather than read as 0 — "the driver gives no busy time" must stay visible.
 */
import { splitNmcliTerse } from './network-parsers.js';

const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** A BSSID as lower-case `aa:bb:cc:dd:ee:ff`, or undefined for anything else (redacted samples, `<BSSID>`). */
export function normaliseMac(text: string | undefined): string | undefined {
  const value = text?.trim();
  return value !== undefined && MAC_PATTERN.test(value) ? value.toLowerCase() : undefined;
}

/** The Wi-Fi band of a centre frequency. 6 GHz starts at 5955 MHz (channel 1), after 5 GHz's 5925. */
export function bandOf(freqMhz: number): '2.4 GHz' | '5 GHz' | '6 GHz' | undefined {
  if (freqMhz >= 2400 && freqMhz <= 2500) return '2.4 GHz';
  if (freqMhz >= 5150 && freqMhz < 5950) return '5 GHz';
  if (freqMhz >= 5950 && freqMhz <= 7125) return '6 GHz';
  return undefined;
}

/** The IEEE channel number of a centre frequency (2.4, 5 and 6 GHz bands), or undefined. */
export function channelOf(freqMhz: number): number | undefined {
  if (freqMhz === 2484) return 14;
  if (freqMhz >= 2412 && freqMhz <= 2472) return (freqMhz - 2407) / 5;
  if (freqMhz >= 5955 && freqMhz <= 7115) return (freqMhz - 5950) / 5;
  if (freqMhz >= 5160 && freqMhz <= 5885) return (freqMhz - 5000) / 5;
  return undefined;
}

/** `key: value` of one line, with the key trimmed and lower-cased; undefined when there is no colon. */
function keyValue(line: string): [string, string] | undefined {
  const at = line.indexOf(':');
  if (at <= 0) return undefined;
  return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
}

/** The first number in a text (`-37 dBm`, `54995 ms`, `2447.0`); undefined when there is none. */
function leadingNumber(text: string): number | undefined {
  const m = /^-?\d+(?:\.\d+)?/.exec(text.trim());
  return m === null ? undefined : Number(m[0]);
}

/** What `iw dev <if> link` says about the association. */
export interface IwLink {
  connected: boolean;
  /** Lower-case MAC of the access point; undefined when not connected or redacted in a sample. */
  bssid?: string;
  /** The interface iw named in "(on wlan0)". */
  interface?: string;
  ssid?: string;
  freqMhz?: number;
  signalDbm?: number;
  rxBitrateMbps?: number;
  txBitrateMbps?: number;
}

/** `iw dev <if> link` → the association, or `{ connected: false }` for "Not connected." or no output. */
export function parseIwLink(text: string): IwLink {
  const lines = text.split(/\r?\n/);
  const head = lines.map((l) => /^\s*Connected to (\S+)(?: \(on ([^)]+)\))?/.exec(l)).find((m) => m !== null);
  if (head === undefined || head === null) return { connected: false };
  const link: IwLink = { connected: true };
  const bssid = normaliseMac(head[1]);
  if (bssid !== undefined) link.bssid = bssid;
  if (head[2] !== undefined) link.interface = head[2];
  for (const line of lines) {
    const kv = keyValue(line);
    if (kv === undefined) continue;
    const [key, value] = kv;
    if (key === 'ssid' && value !== '') link.ssid = value;
    else if (key === 'freq') assign(link, 'freqMhz', leadingNumber(value));
    else if (key === 'signal') assign(link, 'signalDbm', leadingNumber(value));
    else if (key === 'rx bitrate') assign(link, 'rxBitrateMbps', leadingNumber(value));
    else if (key === 'tx bitrate') assign(link, 'txBitrateMbps', leadingNumber(value));
  }
  return link;
}

function assign<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isNaN(value))) target[key] = value;
}

/** One `Station` block of `iw dev <if> station dump` (or `station get <mac>`): cumulative counters. */
export interface StationCounters {
  /** Lower-case MAC; undefined when redacted. */
  mac?: string;
  txPackets?: number;
  /** Undefined when the driver does not report retries (some do not: rtl8723bs). */
  txRetries?: number;
  txFailed?: number;
  rxPackets?: number;
  beaconLoss?: number;
  signalDbm?: number;
  inactiveMs?: number;
}

const STATION_FIELDS: Record<string, keyof Omit<StationCounters, 'mac'>> = {
  'tx packets': 'txPackets',
  'tx retries': 'txRetries',
  'tx failed': 'txFailed',
  'rx packets': 'rxPackets',
  'beacon loss': 'beaconLoss',
  signal: 'signalDbm',
  'inactive time': 'inactiveMs',
};

/** `iw dev <if> station dump|get` → one entry per `Station` block (empty output: no stations). */
export function parseIwStations(text: string): StationCounters[] {
  const stations: StationCounters[] = [];
  let current: StationCounters | undefined;
  for (const line of text.split(/\r?\n/)) {
    const head = /^\s*Station (\S+)/.exec(line);
    if (head !== null) {
      current = {};
      const mac = normaliseMac(head[1]);
      if (mac !== undefined) current.mac = mac;
      stations.push(current);
      continue;
    }
    const kv = current === undefined ? undefined : keyValue(line);
    if (current === undefined || kv === undefined) continue;
    const field = STATION_FIELDS[kv[0]];
    if (field !== undefined) assign(current, field, leadingNumber(kv[1]));
  }
  return stations;
}

/** One frequency of `iw dev <if> survey dump`. Times are cumulative milliseconds, when the driver has them. */
export interface SurveyEntry {
  freqMhz: number;
  inUse: boolean;
  noiseDbm?: number;
  activeMs?: number;
  busyMs?: number;
  receiveMs?: number;
  transmitMs?: number;
}

const SURVEY_FIELDS: Record<string, keyof Omit<SurveyEntry, 'freqMhz' | 'inUse'>> = {
  noise: 'noiseDbm',
  'channel active time': 'activeMs',
  'channel busy time': 'busyMs',
  'channel receive time': 'receiveMs',
  'channel transmit time': 'transmitMs',
};

/** `iw dev <if> survey dump` → one entry per frequency, in the order printed. */
export function parseIwSurvey(text: string): SurveyEntry[] {
  const entries: SurveyEntry[] = [];
  let current: SurveyEntry | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*Survey data from /.test(line)) {
      current = undefined;
      continue;
    }
    const kv = keyValue(line);
    if (kv === undefined) continue;
    const [key, value] = kv;
    if (key === 'frequency') {
      const freqMhz = leadingNumber(value);
      if (freqMhz === undefined) continue;
      current = { freqMhz, inUse: value.includes('[in use]') };
      entries.push(current);
    } else if (current !== undefined) {
      const field = SURVEY_FIELDS[key];
      if (field !== undefined) assign(current, field, leadingNumber(value));
    }
  }
  return entries;
}

/** The roaming-related facts of one BSS in `iw dev <if> scan dump`. */
export interface ScanBss {
  /** Lower-case MAC, or the text iw printed when it is not one (a redacted sample). */
  id: string;
  bssid?: string;
  associated: boolean;
  ssid?: string;
  freqMhz?: number;
  signalDbm?: number;
  /** The RSN element's AKM suites as iw names them (`PSK`, `FT/PSK`, `SAE`, `00-0f-ac:9`, …). */
  akms: string[];
  /** 802.11r: the RSN element offers an FT AKM (FT/PSK, FT/IEEE 802.1X, FT/SAE, …). */
  fastTransition: boolean;
  /** 802.11k: an RM Enabled Capabilities element is present… */
  radioMeasurement: boolean;
  /** …and it offers neighbour reports (what roaming uses). */
  neighborReport: boolean;
  /** 802.11v: Extended Capabilities list BSS Transition. */
  bssTransition: boolean;
  /** BSS Load element's channel utilisation, as a fraction (the AP's own view), when present. */
  apChannelUtilisation?: number;
}

/** AKM suite selectors 00-0f-ac:N that are Fast Transition (IEEE 802.11-2020 table 9-151, and later). */
const FT_SUITE_NUMBERS = new Set([3, 4, 9, 13, 16, 17, 25]);

/** True when an AKM name (as iw prints it) is a Fast Transition suite. */
export function isFtAkm(akm: string): boolean {
  if (akm.startsWith('FT/')) return true;
  const m = /^00-0f-ac:(\d+)$/i.exec(akm);
  return m !== null && FT_SUITE_NUMBERS.has(Number(m[1]));
}

/**
 * iw prints AKM names that contain spaces (`IEEE 802.1X`, `FT/IEEE 802.1X`), so the suite list is split on
 * spaces and the pieces of those names are joined back.
 */
function splitAkms(list: string): string[] {
  const out: string[] = [];
  for (const word of list.split(/\s+/).filter(Boolean)) {
    const last = out[out.length - 1];
    if (last !== undefined && /(?:^|\/)IEEE$/.test(last) && /^802\.1X/.test(word)) {
      out[out.length - 1] = `${last} ${word}`;
    } else {
      out.push(word);
    }
  }
  return out;
}

type Section = 'none' | 'rsn' | 'rm' | 'ext';

/** `iw dev <if> scan dump` (or `scan`) → one entry per BSS with what roaming needs. */
export function parseIwScan(text: string): ScanBss[] {
  const list: ScanBss[] = [];
  let bss: ScanBss | undefined;
  let section: Section = 'none';
  let sectionIndent = 0;
  for (const line of text.split(/\r?\n/)) {
    const head = /^BSS ([^\s(]+)\s*\(on [^)]*\)(.*)$/.exec(line);
    if (head !== null) {
      const id = (head[1] ?? '').toLowerCase();
      bss = {
        id,
        associated: /--\s*associated/.test(head[2] ?? ''),
        akms: [],
        fastTransition: false,
        radioMeasurement: false,
        neighborReport: false,
        bssTransition: false,
      };
      const mac = normaliseMac(id);
      if (mac !== undefined) bss.bssid = mac;
      list.push(bss);
      section = 'none';
      continue;
    }
    if (bss === undefined || line.trim() === '') continue;
    const indent = /^\s*/.exec(line)?.[0].replace(/\t/g, '        ').length ?? 0;
    if (section !== 'none' && indent <= sectionIndent && !/^\s*\*/.test(line)) section = 'none';
    const started = readScanLine(bss, line.trim());
    if (started !== undefined) {
      section = started;
      sectionIndent = indent;
    } else if (section !== 'none') {
      readSectionLine(bss, section, line.trim());
    }
  }
  return list;
}

/** Reads one top-level line of a BSS; returns the section it opens, if any. */
function readScanLine(bss: ScanBss, line: string): Section | undefined {
  const kv = keyValue(line);
  if (kv === undefined) return undefined;
  const [key, value] = kv;
  switch (key) {
    case 'ssid':
      if (value !== '') bss.ssid = value;
      return undefined;
    case 'freq':
      assign(bss, 'freqMhz', leadingNumber(value));
      return undefined;
    case 'signal':
      assign(bss, 'signalDbm', leadingNumber(value));
      return undefined;
    case 'rsn':
      // The first "* Version: 1" sits on the RSN line itself.
      return 'rsn';
    case 'rm enabled capabilities':
      bss.radioMeasurement = true;
      return 'rm';
    case 'extended capabilities':
      // Older iw prints the capabilities on this line, separated by commas; newer iw lists them below.
      if (/\bBSS Transition\b/.test(value)) bss.bssTransition = true;
      return 'ext';
    default:
      return undefined;
  }
}

function readSectionLine(bss: ScanBss, section: Section, line: string): void {
  if (section === 'rsn') {
    const m = /^\*\s*Authentication suites:\s*(.*)$/.exec(line);
    if (m === null) return;
    bss.akms = splitAkms(m[1] ?? '');
    if (bss.akms.some(isFtAkm)) bss.fastTransition = true;
  } else if (section === 'rm') {
    if (/^Neighbor Report\b/.test(line)) bss.neighborReport = true;
  } else if (section === 'ext') {
    if (/\bBSS Transition\b/.test(line)) bss.bssTransition = true;
  }
}

/**
 * The BSS Load element's utilisation, read separately because it lives in its own section (`* channel
 * utilisation: 69/255`), as the AP's view of its channel.
 */
export function scanLoadByBss(text: string): Map<string, number> {
  const loads = new Map<string, number>();
  let id: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const head = /^BSS ([^\s(]+)/.exec(line);
    if (head !== null) id = (head[1] ?? '').toLowerCase();
    const m = /\*\s*channel utilisation:\s*(\d+)\/255/.exec(line);
    if (m !== null && id !== undefined) loads.set(id, Number(m[1]) / 255);
  }
  return loads;
}

/** `wpa_cli -i <if> status`: its `key=value` lines, and the few fields the doctor reads. */
export interface WpaStatus {
  fields: Record<string, string>;
  state?: string;
  bssid?: string;
  ssid?: string;
  freqMhz?: number;
  keyMgmt?: string;
}

/** `wpa_cli status` → fields; `Selected interface 'wlan0'` and other non-`key=value` lines are skipped. */
export function parseWpaCliStatus(text: string): WpaStatus {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([a-z0-9_[\]]+)=(.*)$/i.exec(line.trim());
    if (m?.[1] !== undefined) fields[m[1]] = m[2] ?? '';
  }
  const status: WpaStatus = { fields };
  if (fields.wpa_state !== undefined) status.state = fields.wpa_state;
  const bssid = normaliseMac(fields.bssid);
  if (bssid !== undefined) status.bssid = bssid;
  if (fields.ssid !== undefined && fields.ssid !== '') status.ssid = fields.ssid;
  assign(status, 'freqMhz', fields.freq === undefined ? undefined : leadingNumber(fields.freq));
  if (fields.key_mgmt !== undefined) status.keyMgmt = fields.key_mgmt;
  return status;
}

/** True when a supplicant `key_mgmt` value names a Fast Transition AKM (FT-PSK, FT-EAP, FT-SAE, …). */
export function isFtKeyMgmt(keyMgmt: string | undefined): boolean {
  return keyMgmt !== undefined && /(?:^|[\s+])FT-/.test(keyMgmt);
}

/**
 * `nmcli --terse --fields A,B,C …` → one record per line, keyed by the requested field names (upper-case).
 * Lines with fewer fields than asked for are skipped; blank lines separate devices and are skipped too.
 */
export function parseNmcliTerseTable(text: string, fields: readonly string[]): Record<string, string>[] {
  const names = fields.map((f) => f.toUpperCase());
  const rows: Record<string, string>[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const values = splitNmcliTerse(line);
    if (values.length < names.length) continue;
    const row: Record<string, string> = {};
    names.forEach((name, i) => (row[name] = values[i] ?? ''));
    rows.push(row);
  }
  return rows;
}

/**
 * Words nmcli prints for "yes" in the ACTIVE column in some of its translations (its terse mode is
 * translated too). IN-USE (`*`) does not depend on the language and is preferred when present.
 */
const LOCALISED_YES = new Set([
  'yes',
  'ja',
  'oui',
  'sí',
  'si',
  'sim',
  'tak',
  'да',
  'kyllä',
  'igen',
  'evet',
  'ano',
]);

/** One access point row of `nmcli device wifi list`, as the doctor uses it. */
export interface NmcliAccessPoint {
  inUse: boolean;
  bssid?: string;
  ssid?: string;
  channel?: number;
  freqMhz?: number;
  /** NetworkManager's 0–100 signal quality (not dBm). */
  signalPercent?: number;
  security?: string;
  device?: string;
}

/** Rows of a terse `device wifi list` (any field order, any subset with BSSID or SSID) → access points. */
export function nmcliAccessPoints(rows: readonly Record<string, string>[]): NmcliAccessPoint[] {
  return rows.map((row) => {
    const inUseField = row['IN-USE'];
    const active = row.ACTIVE;
    const ap: NmcliAccessPoint = {
      inUse:
        inUseField !== undefined
          ? inUseField.trim() === '*'
          : active !== undefined && LOCALISED_YES.has(active.trim().toLowerCase()),
    };
    const bssid = normaliseMac(row.BSSID);
    if (bssid !== undefined) ap.bssid = bssid;
    if (row.SSID !== undefined && row.SSID !== '' && row.SSID !== '--') ap.ssid = row.SSID;
    assign(ap, 'channel', row.CHAN === undefined ? undefined : leadingNumber(row.CHAN));
    assign(ap, 'freqMhz', row.FREQ === undefined ? undefined : leadingNumber(row.FREQ));
    assign(ap, 'signalPercent', row.SIGNAL === undefined ? undefined : leadingNumber(row.SIGNAL));
    if (row.SECURITY !== undefined && row.SECURITY !== '') ap.security = row.SECURITY;
    if (row.DEVICE !== undefined && row.DEVICE !== '') ap.device = row.DEVICE;
    return ap;
  });
}
