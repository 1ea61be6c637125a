/**
 * Pure parsers for iproute2's answers the network doctor reads: `ip route get` (which interface, gateway
 * and source address the kernel would use to reach the server), `ip -o addr show` (the interface's
 * subnets), and `ss -tin` (the kernel's TCP counters of the doctor's own session socket). Tested on outputs
 * recorded from iproute2 in test/doctor/fixtures.
 */

/** The kernel's route to one destination. */
export interface RouteToHost {
  /** `local` for an address of this host, `unicast` otherwise. */
  kind: 'local' | 'unicast';
  destination: string;
  /** The next hop when the destination is not on a directly connected subnet. */
  gateway?: string;
  device?: string;
  source?: string;
}

/** The result of `ip route get`: a route, or the kernel's refusal in its own words. */
export type RouteLookup = { ok: true; route: RouteToHost } | { ok: false; error: string };

/**
 * `ip route get <addr>` → the route. Output is one logical line of `key value` words after the destination
 * (`10.1.2.3 via 10.0.0.1 dev wlan0 src 10.0.0.7 uid 1000`, then `cache`), or an error such as
 * `RTNETLINK answers: Network is unreachable` when there is no route.
 */
export function parseIpRouteGet(text: string): RouteLookup {
  const trimmed = text.trim();
  const error = /RTNETLINK answers: (.+)/.exec(trimmed) ?? /^Error: (.+)/m.exec(trimmed);
  if (error !== null) return { ok: false, error: error[1]?.trim() ?? trimmed };
  const words = (trimmed.split(/\r?\n/)[0] ?? '').trim().split(/\s+/).filter(Boolean);
  let i = 0;
  let kind: RouteToHost['kind'] = 'unicast';
  // Route types precede the destination: `local ::1 …`, `unreachable 10.9.9.9 …`, `prohibit …`.
  const type = words[0];
  if (type === 'local') {
    kind = 'local';
    i = 1;
  } else if (type === 'unreachable' || type === 'prohibit' || type === 'blackhole') {
    return { ok: false, error: `the route to ${words[1] ?? 'the server'} is "${type}"` };
  }
  const destination = words[i];
  if (destination === undefined) return { ok: false, error: 'ip route get printed nothing' };
  const route: RouteToHost = { kind, destination };
  for (let j = i + 1; j < words.length - 1; j++) {
    const value = words[j + 1];
    if (value === undefined) break;
    if (words[j] === 'via') route.gateway = value;
    else if (words[j] === 'dev') route.device = value;
    else if (words[j] === 'src') route.source = value;
  }
  return { ok: true, route };
}

/** One address of an interface, as `ip -o addr show` prints it. */
export interface InterfaceAddress {
  device: string;
  family: 'inet' | 'inet6';
  /** `10.77.1.2/24` */
  cidr: string;
}

/** `ip -o addr show [dev <if>]` → the addresses with their prefix lengths. */
export function parseIpAddrOneline(text: string): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\d+:\s+(\S+)\s+(inet6?)\s+(\S+)/.exec(line);
    if (m?.[1] === undefined || m[3] === undefined) continue;
    out.push({ device: m[1].replace(/@.*$/, ''), family: m[2] === 'inet6' ? 'inet6' : 'inet', cidr: m[3] });
  }
  return out;
}

/** True when the IPv4 address `ip` lies in `cidr` (`10.0.0.0/8`); false for IPv6 or malformed input. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? '32');
  const a = ipv4ToInt(ip);
  const b = base === undefined ? undefined : ipv4ToInt(base);
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    const byte = Number(part);
    if (!/^\d{1,3}$/.test(part) || byte > 255) return undefined;
    n = n * 256 + byte;
  }
  return n;
}

/** The TCP counters of one socket, from `ss -tin`. Missing counters (a fresh socket has none) read as 0. */
export interface TcpSocketCounters {
  local: string;
  peer: string;
  /** Segments with data sent, retransmissions included. */
  dataSegmentsOut: number;
  /** Total retransmitted segments (the second number of `retrans:current/total`). */
  retransmitted: number;
  /** Retransmission timeout, and the kernel's smoothed RTT (ms). */
  rtoMs?: number;
  rttMs?: number;
}

/**
 * `ss -tinH …` → one entry per socket. The first line of each holds state, queues and both addresses; the
 * indented line after it holds `key:value` counters (`data_segs_out:504`, `retrans:0/50`, `rtt:0.79/0.887`).
 */
export function parseSsTcpInfo(text: string): TcpSocketCounters[] {
  const out: TcpSocketCounters[] = [];
  let current: TcpSocketCounters | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || /^State\s+Recv-Q/.test(line)) continue;
    if (!/^\s/.test(line)) {
      const words = line.trim().split(/\s+/);
      // State Recv-Q Send-Q Local Peer [Process]
      current = { local: words[3] ?? '', peer: words[4] ?? '', dataSegmentsOut: 0, retransmitted: 0 };
      out.push(current);
      continue;
    }
    if (current === undefined) continue;
    for (const word of line.trim().split(/\s+/)) {
      const [key, value] = word.split(':', 2);
      if (value === undefined) continue;
      if (key === 'data_segs_out') current.dataSegmentsOut = Number(value) || 0;
      else if (key === 'retrans') current.retransmitted = Number(value.split('/')[1] ?? value) || 0;
      else if (key === 'rto') current.rtoMs = Number(value);
      else if (key === 'rtt') current.rttMs = Number(value.split('/')[0]);
    }
  }
  return out;
}
