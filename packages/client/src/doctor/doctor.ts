/**
 * The network doctor as one library call: reachability, then a diagnostic session for the window while
 * the Wi-Fi counters are read at its start and end, then a report whose every line is pass / warn / fail
 * / skip with the figure, the threshold and the fix. `localpush doctor` prints it; any host can call it.
 */
import { parseServerUrl } from '../connection/transports.js';
import { summarise, type CheckGroup, type CheckResult } from './checks.js';
import { connectionChecks } from './connection-checks.js';
import { parseSsTcpInfo, type TcpSocketCounters } from './net-parsers.js';
import { checkReachability, type ReachabilityOptions, type ReachTarget } from './reachability.js';
import { measureSession, type SessionOptions } from './session.js';
import { realSystem, type DoctorSystem } from './system.js';
import { wifiNotRunnable } from './wifi-checks.js';
import { startWifiWindow } from './wifi-system.js';

export interface DoctorOptions {
  /** `tls://host:port` (or `tcp://` for a plaintext test server). */
  url: string;
  deviceId: string;
  credential: string;
  pin?: string | readonly string[];
  ca?: string;
  /** Diagnostic session window. Default 60 s. */
  windowMs?: number;
  /** Time between probes. Default 200 ms. */
  probeIntervalMs?: number;
  /** Pad characters per probe. Default 256. */
  padChars?: number;
  /** Handshakes to time. Default 5. */
  tries?: number;
  expectInterface?: string;
  expectSubnet?: string;
  /** The Wi-Fi interface to read (default: the route's, else the first). */
  wifiInterface?: string;
  /** Leave the Wi-Fi out (its checks are reported as not runnable, saying so). */
  noWifi?: boolean;
  /** The system to ask (tests inject recorded outputs). Default the real one. */
  system?: DoctorSystem;
  /** Told as each stage starts (the CLI prints it as progress). */
  onStage?: (stage: string) => void;
  session?: Pick<SessionOptions, 'clock' | 'now' | 'onProbe' | 'connectTimeoutMs'>;
}

/** A whole doctor run. */
export interface DoctorReport {
  url: string;
  deviceId: string;
  startedAt: string;
  durationMs: number;
  checks: CheckResult[];
  summary: ReturnType<typeof summarise>;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const started = Date.now();
  const system = options.system ?? realSystem();
  const url = parseServerUrl(options.url);
  const target: ReachTarget = { url };
  if (options.pin !== undefined) target.pin = options.pin;
  if (options.ca !== undefined) target.ca = options.ca;
  const reachOptions: ReachabilityOptions = {};
  if (options.tries !== undefined) reachOptions.tries = options.tries;
  if (options.expectInterface !== undefined) reachOptions.expectInterface = options.expectInterface;
  if (options.expectSubnet !== undefined) reachOptions.expectSubnet = options.expectSubnet;

  options.onStage?.('reachability');
  const reach = await checkReachability(target, system, reachOptions);
  options.onStage?.('connection');
  const wifi = options.noWifi
    ? { finish: () => Promise.resolve(wifiNotRunnable('not asked for (--no-wifi)', 'run without --no-wifi')) }
    : await startWifiWindow(system, {
        ...(options.wifiInterface === undefined ? {} : { interface: options.wifiInterface }),
        ...(reach.route?.device === undefined ? {} : { routeDevice: reach.route.device }),
      });
  const tcp: { counters?: TcpSocketCounters; error?: string } = {};
  const sessionOptions: SessionOptions = {
    ...options.session,
    deviceId: options.deviceId,
    credential: options.credential,
    beforeClose: async (port) => {
      Object.assign(tcp, await readTcpCounters(system, port));
    },
  };
  if (reach.address !== undefined) sessionOptions.address = reach.address;
  if (options.windowMs !== undefined) sessionOptions.windowMs = options.windowMs;
  if (options.probeIntervalMs !== undefined) sessionOptions.intervalMs = options.probeIntervalMs;
  if (options.padChars !== undefined) sessionOptions.padChars = options.padChars;
  const connection =
    url.scheme === 'tls' || url.scheme === 'tcp'
      ? connectionChecks(await measureSession(target, sessionOptions), tcp)
      : wsNotSupported();
  options.onStage?.('wifi');
  const checks = [...reach.checks, ...connection, ...(await wifi.finish())];
  return {
    url: options.url,
    deviceId: options.deviceId,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    checks,
    summary: summarise(checks),
  };
}

function wsNotSupported(): CheckResult[] {
  return ['session', 'rtt', 'jitter', 'probe-loss', 'tcp-retransmissions', 'heartbeats'].map((id) => ({
    id,
    group: 'connection' as const,
    verdict: 'skip' as const,
    measured: 'not runnable: the doctor’s session speaks tls:// and tcp://, not WebSocket',
    fix: 'run the doctor against the server’s TLS port (tls://host:7701)',
  }));
}

/** The kernel's counters of the session's socket (`ss -tinH sport = :PORT`), or why they are missing. */
async function readTcpCounters(
  system: DoctorSystem,
  port: number | undefined,
): Promise<{ counters?: TcpSocketCounters; error?: string }> {
  if (port === undefined) return { error: 'the session socket has no local port' };
  const ss = await system.which('ss');
  if (ss === undefined) return { error: 'iproute2 ("ss") is not installed' };
  const out = await system.run(ss, ['-tinH', `( sport = :${port} )`]);
  const counters = parseSsTcpInfo(out.stdout).find((c) => c.local.endsWith(`:${port}`));
  return counters === undefined ? { error: `ss found no socket with local port ${port}` } : { counters };
}

const GROUP_TITLES: Record<CheckGroup, string> = {
  reachability: 'Reachability',
  connection: 'Connection',
  wifi: 'Wi-Fi',
};
const MARK = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' } as const;

/** The report as text: one block per group, one line per check, the threshold and fix indented below. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines = [`localpush doctor — ${report.url} as ${report.deviceId}, ${report.startedAt}`, ''];
  for (const group of ['reachability', 'connection', 'wifi'] as const) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    lines.push(GROUP_TITLES[group]);
    for (const check of checks) {
      lines.push(`  ${MARK[check.verdict]}  ${check.id.padEnd(20)} ${check.measured}`);
      if (check.threshold !== undefined && check.verdict !== 'skip') {
        lines.push(`        ${''.padEnd(20)} threshold: ${check.threshold}`);
      }
      if (check.fix !== undefined) lines.push(`        ${''.padEnd(20)} fix: ${check.fix}`);
    }
    lines.push('');
  }
  const s = report.summary;
  lines.push(
    `${s.pass} passed, ${s.warn} warnings, ${s.fail} failed, ${s.skip} not runnable ` +
      `(${(report.durationMs / 1000).toFixed(1)} s) — exit ${s.exitCode}`,
  );
  return `${lines.join('\n')}\n`;
}
