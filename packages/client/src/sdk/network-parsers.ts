/**
 * Pure parsers for the output of the OS tools the network monitors run. Kept apart from the process
 * spawning so that each one is unit-tested on captured sample output (test/sdk/network-parsers.test.ts).
 */

/**
 * Splits one line of `nmcli -t` (terse) output into fields. nmcli escapes `:` as `\:` and `\` as `\\`
 * inside values, so a plain split(':') would cut SSIDs that contain a colon.
 */
export function splitNmcliTerse(line: string): string[] {
  const fields: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && i + 1 < line.length) {
      cur += line[i + 1];
      i++;
    } else if (ch === ':') {
      fields.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  fields.push(cur);
  return fields;
}

/** `nmcli -t -f active,ssid dev wifi` → the SSID of the active network, if any. */
export function parseNmcliWifi(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const [active, ssid] = splitNmcliTerse(line);
    // The active flag is localised by some builds ("ja"/"oui"), but `yes` is what -t prints in C locale,
    // which is how the monitor runs nmcli (LC_ALL=C).
    if (active === 'yes' && ssid !== undefined && ssid !== '') return ssid;
  }
  return undefined;
}

/** `nmcli -t -f type,state dev` → true when an ethernet device is `connected`. */
export function parseNmcliEthernet(text: string): boolean {
  return text
    .split(/\r?\n/)
    .map(splitNmcliTerse)
    .some(([type, state]) => type === 'ethernet' && state === 'connected');
}

/** `iw dev` → the SSID of the first interface that reports one. */
export function parseIwDev(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s+ssid (.+)$/.exec(line);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

/** One entry of /sys/class/net, as the Linux monitor reads it. */
export interface SysNetInterface {
  name: string;
  /** Contents of `carrier` ("1" up, "0" down; unreadable when the interface is administratively down). */
  carrier: string | undefined;
  /** True when `wireless/` or `phy80211` exists: a Wi-Fi interface, never counted as Ethernet. */
  wireless: boolean;
  /** True when `device` exists: a real NIC rather than lo, bridges, veth, docker0, tun… */
  physical: boolean;
}

/** True when some physical, wired interface has carrier. */
export function ethernetFromSysfs(ifaces: readonly SysNetInterface[]): boolean {
  return ifaces.some((i) => i.physical && !i.wireless && i.carrier?.trim() === '1');
}

/**
 * macOS `networksetup -getairportnetwork en0` → SSID. Prints `Current Wi-Fi Network: NAME` when joined and
 * `You are not associated with an AirPort network.` otherwise.
 */
export function parseNetworksetupAirport(text: string): string | undefined {
  const m = /^Current (?:Wi-Fi|AirPort) Network: (.+)$/m.exec(text);
  return m?.[1]?.trimEnd();
}

/**
 * macOS `ipconfig getsummary en0` → SSID. Newer macOS versions (14+) print `SSID : NAME` here while
 * networksetup no longer reports it; `<redacted>` means the process lacks location permission.
 */
export function parseIpconfigSummary(text: string): string | undefined {
  const m = /^\s*SSID : (.+)$/m.exec(text);
  const ssid = m?.[1]?.trimEnd();
  return ssid === undefined || ssid === '<redacted>' ? undefined : ssid;
}

/** Windows `netsh wlan show interfaces` → SSID of a connected interface. */
export function parseNetshWlan(text: string): string | undefined {
  let connected = false;
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*([^:]+?)\s*:\s*(.*?)\s*$/.exec(raw);
    if (m === null) continue;
    const key = m[1] ?? '';
    const value = m[2] ?? '';
    if (key === 'Name') connected = false; // A new interface block starts.
    if (key === 'State') connected = value === 'connected';
    // `SSID` but not `BSSID`; the regex anchors the key exactly.
    if (key === 'SSID' && connected && value !== '') return value;
  }
  return undefined;
}

/** Windows `netsh interface show interface` → true when a `Dedicated` interface named Ethernet* is Connected. */
export function parseNetshInterfaces(text: string): boolean {
  return text.split(/\r?\n/).some((line) => {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    return m !== null && m[2] === 'Connected' && m[3] === 'Dedicated' && /^Ethernet/i.test(m[4] ?? '');
  });
}
