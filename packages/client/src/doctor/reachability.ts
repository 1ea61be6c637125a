/**
 * Reachability: can this device reach the server the way a provider would, and how fast? The route the
 * kernel would take (interface, gateway, source address, and whether that is the expected interface or
 * subnet — Apple: the device must reach the server on the local network), DNS when a name is used, TCP
 * and TLS handshake times over N tries, the pin and the certificate's validity.
 */
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodePins, spkiPin } from '../connection/pinning.js';
import type { ServerUrl } from '../connection/transports.js';
import {
  THRESHOLDS,
  describeLimit,
  grade,
  ms,
  percentile,
  skipped,
  worst,
  type CheckResult,
} from './checks.js';
import { ipv4InCidr, parseIpAddrOneline, parseIpRouteGet, type RouteToHost } from './net-parsers.js';
import type { DoctorSystem } from './system.js';

/** How to reach and trust the server. */
export interface ReachTarget {
  url: ServerUrl;
  /** SPKI pins (base64 SHA-256); the server's key must match one. */
  pin?: string | readonly string[];
  /** A CA certificate (PEM) to verify the server's certificate with, instead of pinning. */
  ca?: string;
}

export interface ReachabilityOptions {
  /** TCP (and TLS) handshakes to time. Default 5. */
  tries?: number;
  /** Deadline of each handshake. Default 5 s. */
  timeoutMs?: number;
  /** The interface the server must be reached through (`wlan0`); a different one fails the route check. */
  expectInterface?: string;
  /** The subnet the source address must lie in (`10.20.0.0/16`). */
  expectSubnet?: string;
  /** Now, in milliseconds since the epoch, for certificate expiry. Default Date.now. */
  now?: () => number;
}

/** What reachability found, for the session that follows: the address to use and the route. */
export interface ReachabilityResult {
  checks: CheckResult[];
  /** The address the doctor connected to (the first DNS answer, or the literal). */
  address?: string;
  route?: RouteToHost;
}

export async function checkReachability(
  target: ReachTarget,
  system: DoctorSystem,
  options: ReachabilityOptions = {},
): Promise<ReachabilityResult> {
  const checks: CheckResult[] = [];
  const host = target.url.host;
  let address: string | undefined = isIP(host) === 0 ? undefined : host;
  if (address === undefined) {
    const dns = await checkDns(host);
    checks.push(dns.check);
    address = dns.address;
  }
  let route: RouteToHost | undefined;
  if (address !== undefined) {
    const routed = await checkRoute(address, system, options);
    checks.push(routed.check);
    route = routed.route;
  } else {
    checks.push(skipped('route', 'reachability', `${host} did not resolve`, 'fix DNS first (see "dns")'));
  }
  if (address === undefined) {
    checks.push(
      skipped('tcp-connect', 'reachability', `${host} did not resolve`, 'fix DNS first (see "dns")'),
    );
    return { checks };
  }
  checks.push(...(await checkHandshakes(target, address, options)));
  const result: ReachabilityResult = { checks, address };
  if (route !== undefined) result.route = route;
  return result;
}

async function checkDns(host: string): Promise<{ check: CheckResult; address?: string }> {
  const started = performance.now();
  try {
    const answers = await lookup(host, { all: true });
    const elapsed = performance.now() - started;
    const first = answers[0]?.address;
    const check: CheckResult = {
      id: 'dns',
      group: 'reachability',
      verdict: grade(elapsed, THRESHOLDS.dnsMs),
      measured: `${host} → ${answers.map((a) => a.address).join(', ')} in ${ms(elapsed)}`,
      threshold: describeLimit(THRESHOLDS.dnsMs, ms),
      values: { ms: round(elapsed), addresses: answers.length },
    };
    if (check.verdict !== 'pass') {
      check.fix = 'the resolver is slow: give devices a resolver on the local network, or use the address';
    }
    return first === undefined ? { check } : { check, address: first };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return {
      check: {
        id: 'dns',
        group: 'reachability',
        verdict: 'fail',
        measured: `${host} does not resolve (${code})`,
        threshold: 'resolves',
        fix: 'add the name to the site DNS (or /etc/hosts), or connect to the server by address',
      },
    };
  }
}

async function checkRoute(
  address: string,
  system: DoctorSystem,
  options: ReachabilityOptions,
): Promise<{ check: CheckResult; route?: RouteToHost }> {
  const ip = await system.which('ip');
  if (ip === undefined) {
    return {
      check: skipped('route', 'reachability', 'iproute2 ("ip") is not installed', 'install iproute2'),
    };
  }
  const out = await system.run(ip, ['route', 'get', address]);
  const lookup = parseIpRouteGet(`${out.stdout}\n${out.stderr}`);
  if (!lookup.ok) {
    return {
      check: {
        id: 'route',
        group: 'reachability',
        verdict: 'fail',
        measured: `no route to ${address}: ${lookup.error}`,
        threshold: 'a route on the local network',
        fix: 'put the device on the server’s network or VLAN, or add a route to it (ask the network team)',
      },
    };
  }
  const route = lookup.route;
  const words =
    route.kind === 'local'
      ? `${address} is this host (dev ${route.device ?? 'lo'})`
      : `${route.gateway === undefined ? 'on-link' : `via gateway ${route.gateway}`} through ${route.device ?? '?'}` +
        (route.source === undefined ? '' : `, source ${route.source}`);
  const check: CheckResult = {
    id: 'route',
    group: 'reachability',
    verdict: 'pass',
    measured: words,
    threshold:
      options.expectInterface !== undefined || options.expectSubnet !== undefined
        ? `leaves through ${[options.expectInterface, options.expectSubnet].filter(Boolean).join(' in ')}`
        : 'a route exists',
    values: {
      kind: route.kind,
      device: route.device ?? null,
      gateway: route.gateway ?? null,
      source: route.source ?? null,
    },
  };
  const wrong = await wrongWay(route, system, ip, options);
  if (wrong !== undefined) {
    check.verdict = 'fail';
    check.measured += ` — ${wrong}`;
    check.fix =
      'traffic to the server leaves by the wrong path: fix the VLAN or routing so the server is reached on the Wi-Fi';
  }
  return { check, route };
}

/** Why the route is not the expected one, or undefined when it is (or nothing was expected). */
async function wrongWay(
  route: RouteToHost,
  system: DoctorSystem,
  ip: string,
  options: ReachabilityOptions,
): Promise<string | undefined> {
  if (options.expectInterface !== undefined && route.device !== options.expectInterface) {
    return `expected ${options.expectInterface}`;
  }
  if (options.expectSubnet === undefined) return undefined;
  if (route.source !== undefined && ipv4InCidr(route.source, options.expectSubnet)) return undefined;
  if (route.source === undefined && route.device !== undefined) {
    // No source in the answer: accept when the interface has an address in the subnet.
    const addrs = parseIpAddrOneline(
      (await system.run(ip, ['-o', 'addr', 'show', 'dev', route.device])).stdout,
    );
    if (addrs.some((a) => ipv4InCidr(a.cidr.split('/')[0] ?? '', options.expectSubnet ?? ''))) {
      return undefined;
    }
  }
  return `source ${route.source ?? 'unknown'} is not in ${options.expectSubnet}`;
}

interface HandshakeTimes {
  tcpMs: number[];
  tlsMs: number[];
  errors: string[];
  /** The first TLS peer: its certificate and the pin check. */
  peer?: { cert: X509Certificate | undefined; pin?: { ok: boolean; actual: string | undefined } };
  authorizationError?: string;
}

async function checkHandshakes(
  target: ReachTarget,
  address: string,
  options: ReachabilityOptions,
): Promise<CheckResult[]> {
  const tries = options.tries ?? 5;
  const secure = target.url.scheme === 'tls' || target.url.scheme === 'wss';
  const times: HandshakeTimes = { tcpMs: [], tlsMs: [], errors: [] };
  for (let i = 0; i < tries; i++) await handshakeOnce(target, address, secure, options, times);
  const checks = [timesCheck('tcp-connect', 'TCP connect', times.tcpMs, tries, times.errors, target)];
  if (!secure) {
    const why = `${target.url.scheme}:// is plaintext, so there is no TLS to time or certificate to check`;
    const fix = 'use tls:// (or wss://) on any network you do not fully control';
    checks.push(skipped('tls-handshake', 'reachability', why, fix));
    checks.push(skipped('pin', 'reachability', why, fix), skipped('certificate', 'reachability', why, fix));
    return checks;
  }
  checks.push(timesCheck('tls-handshake', 'TLS handshake', times.tlsMs, times.tcpMs.length, [], target));
  checks.push(pinCheck(target, times), certificateCheck(times, options.now ?? Date.now));
  return checks;
}

/** One TCP connect, then (for TLS) one handshake on the same socket, each timed on its own. */
async function handshakeOnce(
  target: ReachTarget,
  address: string,
  secure: boolean,
  options: ReachabilityOptions,
  times: HandshakeTimes,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let socket: Socket | undefined;
  let tls: TLSSocket | undefined;
  try {
    const started = performance.now();
    socket = await within(timeoutMs, 'TCP connect', (done, fail) => {
      const s = netConnect({ host: address, port: target.url.port });
      s.once('connect', () => done(s));
      s.once('error', fail);
      return () => s.destroy();
    });
    times.tcpMs.push(performance.now() - started);
    if (!secure) return;
    const tlsStarted = performance.now();
    const raw = socket;
    const secured = await within<TLSSocket>(timeoutMs, 'TLS handshake', (done, fail) => {
      const pinned = target.pin !== undefined;
      const t = tlsConnect({
        socket: raw,
        ...(isIP(target.url.host) === 0 ? { servername: target.url.host } : {}),
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        // Pinned: the key is checked below (a self-signed certificate is the norm on a closed network).
        rejectUnauthorized: !pinned,
      });
      t.once('secureConnect', () => done(t));
      t.once('error', fail);
      return () => t.destroy();
    });
    tls = secured;
    times.tlsMs.push(performance.now() - tlsStarted);
    if (times.peer === undefined) {
      // Read once: Node 20 answers a second getPeerX509Certificate() on the same socket with undefined.
      const cert = secured.getPeerX509Certificate();
      times.peer = { cert };
      if (target.pin !== undefined) {
        const actual = cert === undefined ? undefined : spkiPin(cert);
        const pins = decodePins(target.pin);
        const ok = actual !== undefined && pins.some((p) => p.equals(Buffer.from(actual, 'base64')));
        times.peer.pin = { ok, actual };
      }
    }
  } catch (error) {
    times.errors.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    if ((error as Error).message.includes('certificate')) times.authorizationError = (error as Error).message;
  } finally {
    tls?.destroy();
    socket?.destroy();
  }
}

/** Runs `start` until it calls `done` or `fail`, or fails after `timeoutMs`; `start` returns a canceller. */
function within<T>(
  timeoutMs: number,
  what: string,
  start: (done: (value: T) => void, fail: (error: Error) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      cancel();
      reject(Object.assign(new Error(`${what} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    const cancel = start(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

const CONNECT_FIX: Record<string, string> = {
  ECONNREFUSED:
    'nothing listens there: start "localpush serve" or check the port (and any firewall that rejects)',
  ETIMEDOUT: 'packets are dropped on the way: a firewall or ACL between the VLANs blocks the port',
  EHOSTUNREACH: 'the host is unreachable: check the VLAN and the route',
  ENETUNREACH: 'the network is unreachable: the device is not on a network that routes to the server',
};

function timesCheck(
  id: 'tcp-connect' | 'tls-handshake',
  name: string,
  values: number[],
  tries: number,
  errors: string[],
  target: ReachTarget,
): CheckResult {
  const limit = id === 'tcp-connect' ? THRESHOLDS.tcpConnectMs : THRESHOLDS.tlsHandshakeMs;
  const where = `${target.url.host}:${target.url.port}`;
  const p50 = percentile(values, 50);
  const max = values.length === 0 ? undefined : Math.max(...values);
  if (p50 === undefined || max === undefined) {
    const first = errors[0] ?? 'failed';
    return {
      id,
      group: 'reachability',
      verdict: 'fail',
      measured: `${name} to ${where} failed ${tries} of ${tries} times (${[...new Set(errors)].join(', ') || first})`,
      threshold: describeLimit(limit, ms),
      fix: CONNECT_FIX[first] ?? `the ${name} does not complete: ${first}`,
      values: { tries, failures: tries },
    };
  }
  let verdict: CheckResult['verdict'] = grade(p50, limit);
  if (errors.length > 0) verdict = worst(verdict, 'warn');
  const check: CheckResult = {
    id,
    group: 'reachability',
    verdict,
    measured:
      `${name} to ${where}: median ${ms(p50)}, max ${ms(max)} over ${values.length} tries` +
      (errors.length > 0 ? `; ${errors.length} failed (${[...new Set(errors)].join(', ')})` : ''),
    threshold: describeLimit(limit, ms),
    values: { p50Ms: round(p50), maxMs: round(max), tries, failures: errors.length },
  };
  if (verdict !== 'pass') {
    check.fix =
      errors.length > 0
        ? 'some handshakes failed: look for a congested link or a middlebox dropping connections'
        : `the ${name} is slow for a local network: look for congestion or a server under load`;
  }
  return check;
}

function pinCheck(target: ReachTarget, times: HandshakeTimes): CheckResult {
  if (times.peer === undefined) {
    return skipped('pin', 'reachability', 'no TLS handshake completed', 'fix the TLS handshake first');
  }
  if (target.pin === undefined) {
    const verdict = times.authorizationError === undefined ? 'pass' : 'fail';
    const check: CheckResult = {
      id: 'pin',
      group: 'reachability',
      verdict,
      measured:
        target.ca === undefined ? 'no pin: verified against the system CAs' : 'no pin: verified against --ca',
      threshold: 'the certificate verifies',
    };
    if (verdict === 'fail') check.fix = 'pass the server’s pin (--pin) or its CA (--ca)';
    return check;
  }
  const pin = times.peer.pin;
  const ok = pin?.ok === true;
  const check: CheckResult = {
    id: 'pin',
    group: 'reachability',
    verdict: ok ? 'pass' : 'fail',
    measured: ok
      ? `the server's key matches the pin`
      : `the server presented key ${pin?.actual ?? '(none)'}, which matches no pin`,
    threshold: 'matches a configured pin',
    values: { presented: pin?.actual ?? null },
  };
  if (!ok) {
    check.fix =
      'the device would refuse this server: update the pin, or find the machine that answers in its place';
  }
  return check;
}

function certificateCheck(times: HandshakeTimes, now: () => number): CheckResult {
  const cert = times.peer?.cert;
  if (cert === undefined) {
    return skipped(
      'certificate',
      'reachability',
      'no certificate was presented',
      'fix the TLS handshake first',
    );
  }
  const validTo = Date.parse(cert.validTo);
  const validFrom = Date.parse(cert.validFrom);
  const daysLeft = (validTo - now()) / 86_400_000;
  const limit = THRESHOLDS.certificateDays;
  let verdict: CheckResult['verdict'] = grade(daysLeft, limit);
  if (validFrom > now()) verdict = 'fail';
  const check: CheckResult = {
    id: 'certificate',
    group: 'reachability',
    verdict,
    measured:
      validFrom > now()
        ? `not valid before ${cert.validFrom} (check the device's clock)`
        : `valid until ${cert.validTo}: ${Math.floor(daysLeft)} days left`,
    threshold: describeLimit(limit, (d) => `${d} days`),
    values: { daysLeft: Math.floor(daysLeft), validTo: cert.validTo, subject: cert.subject },
  };
  if (verdict !== 'pass') {
    check.fix =
      daysLeft <= 0
        ? 'the certificate has expired: renew it (keep the key, and pinned devices keep working)'
        : validFrom > now()
          ? 'set the device clock (NTP), or reissue the certificate'
          : 'renew the certificate soon, with the same key so pinned devices keep working';
  }
  return check;
}

const round = (n: number): number => Math.round(n * 100) / 100;
