/**
 * The connection half of the doctor as pure functions: a diagnostic session's measurement (and the TCP
 * counters of its socket) in, checks out — session, round trip p50/p99, jitter, probe loss, TCP
 * retransmissions, heartbeats.
 */
import {
  THRESHOLDS,
  describeLimit,
  grade,
  meanAbsoluteDifference,
  ms,
  percent,
  percentile,
  skipped,
  worst,
  type CheckResult,
} from './checks.js';
import type { TcpSocketCounters } from './net-parsers.js';
import type { SessionMeasurement } from './session.js';

const SESSION_FIX: Record<string, string> = {
  LP_AUTH_FAILED: 'the server refused the device’s credential: re-enrol the device ("localpush device add")',
  LP_CLIENT_DIAGNOSTIC_UNSUPPORTED:
    'upgrade the server: this one does not offer diagnostic sessions, so the doctor closed at once to give the device its session back',
  LP_CLIENT_PIN_MISMATCH: 'the server’s key matches no pin: see the "pin" check',
  LP_CLIENT_WELCOME_TIMEOUT:
    'the server accepted the connection but never answered the hello: check its load and logs',
  LP_CLIENT_CONNECTION_LOST:
    'the connection dropped during the window: a middlebox or a roaming device cut it',
};

/** The checks of one diagnostic session. `tcp` is the socket's counters at the end (Linux `ss`). */
export function connectionChecks(
  m: SessionMeasurement,
  tcp: { counters?: TcpSocketCounters; error?: string },
): CheckResult[] {
  const checks: CheckResult[] = [sessionCheck(m)];
  if (m.welcome === null || m.sent === 0) {
    const why = 'no diagnostic session was established';
    const fix = 'fix the "session" check first';
    for (const id of ['rtt', 'jitter', 'probe-loss', 'tcp-retransmissions', 'heartbeats']) {
      checks.push(skipped(id, 'connection', why, fix));
    }
    return checks;
  }
  checks.push(rttCheck(m), jitterCheck(m), probeLossCheck(m), retransmissionCheck(tcp), heartbeatCheck(m));
  return checks;
}

function sessionCheck(m: SessionMeasurement): CheckResult {
  if (m.welcome === null || m.failure !== undefined) {
    const failure = m.failure ?? { stage: 'welcome', code: 'unknown', message: 'no welcome' };
    const during = m.welcome !== null && failure.stage === 'session';
    return {
      id: 'session',
      group: 'connection',
      verdict: 'fail',
      measured: `${during ? `the session broke after ${Math.round(m.heldMs / 1000)} s` : 'no session'}: ${failure.code}: ${failure.message}`,
      threshold: 'a diagnostic session held for the whole window',
      fix: SESSION_FIX[failure.code] ?? `the session failed at ${failure.stage}: ${failure.message}`,
      values: { stage: failure.stage, code: failure.code },
    };
  }
  return {
    id: 'session',
    group: 'connection',
    verdict: 'pass',
    measured:
      `diagnostic session welcomed in ${ms(m.welcome.ms)} and held ${Math.round(m.heldMs / 1000)} s; ` +
      `heartbeat every ${m.welcome.heartbeatIntervalMs / 1000} s, grace ${m.welcome.heartbeatGraceMs / 1000} s`,
    threshold: 'a diagnostic session held for the whole window',
    values: { welcomeMs: round(m.welcome.ms), heldMs: Math.round(m.heldMs) },
  };
}

function rttCheck(m: SessionMeasurement): CheckResult {
  const p50 = percentile(m.rtts, 50);
  const p99 = percentile(m.rtts, 99);
  if (p50 === undefined || p99 === undefined) {
    return {
      id: 'rtt',
      group: 'connection',
      verdict: 'fail',
      measured: `none of ${m.sent} probes was answered`,
      threshold: describeLimit(THRESHOLDS.rttP50Ms, ms),
      fix: 'the server never answered a probe: the path loses everything after the handshake',
    };
  }
  const verdict = worst(grade(p50, THRESHOLDS.rttP50Ms), grade(p99, THRESHOLDS.rttP99Ms));
  const check: CheckResult = {
    id: 'rtt',
    group: 'connection',
    verdict,
    measured: `p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(Math.max(...m.rtts))} over ${m.rtts.length} probes`,
    threshold: `p50 ${describeLimit(THRESHOLDS.rttP50Ms, ms)}; p99 ${describeLimit(THRESHOLDS.rttP99Ms, ms)}`,
    values: {
      p50Ms: round(p50),
      p99Ms: round(p99),
      maxMs: round(Math.max(...m.rtts)),
      meanMs: round(m.rtts.reduce((a, b) => a + b, 0) / m.rtts.length),
      probes: m.rtts.length,
    },
  };
  if (verdict !== 'pass') {
    check.fix =
      p50 > THRESHOLDS.rttP50Ms.warn
        ? 'every round trip is slow: look for a congested channel (see the Wi-Fi checks) or an overloaded server'
        : 'the median is fine but the tail is slow: look for retransmissions, roaming or power saving on the device';
  }
  return check;
}

function jitterCheck(m: SessionMeasurement): CheckResult {
  const jitter = meanAbsoluteDifference(m.rtts);
  if (jitter === undefined) {
    return skipped('jitter', 'connection', 'fewer than two probes were answered', 'hold the session longer');
  }
  const verdict = grade(jitter, THRESHOLDS.jitterMs);
  const check: CheckResult = {
    id: 'jitter',
    group: 'connection',
    verdict,
    measured: `${ms(jitter)} mean difference between successive round trips`,
    threshold: describeLimit(THRESHOLDS.jitterMs, ms),
    values: { ms: round(jitter) },
  };
  if (verdict !== 'pass') {
    check.fix =
      'round trips vary a lot: look for a busy channel, interference or a device roaming between access points';
  }
  return check;
}

function probeLossCheck(m: SessionMeasurement): CheckResult {
  const ratio = m.sent === 0 ? 0 : m.lost / m.sent;
  const verdict = grade(ratio, THRESHOLDS.lossRatio);
  const check: CheckResult = {
    id: 'probe-loss',
    group: 'connection',
    verdict,
    measured: `${m.lost} of ${m.sent} probes unanswered (${percent(ratio)})`,
    threshold: describeLimit(THRESHOLDS.lossRatio, percent),
    values: { sent: m.sent, lost: m.lost, ratio: round(ratio, 4) },
  };
  if (verdict !== 'pass') {
    check.fix =
      'the server did not answer every probe: something on the path drops messages (a proxy, or the server is overloaded)';
  }
  return check;
}

function retransmissionCheck(tcp: { counters?: TcpSocketCounters; error?: string }): CheckResult {
  const c = tcp.counters;
  if (c === undefined) {
    return skipped(
      'tcp-retransmissions',
      'connection',
      tcp.error ?? 'the socket’s TCP counters could not be read',
      'run on Linux with iproute2 ("ss") installed',
    );
  }
  const ratio = c.dataSegmentsOut === 0 ? 0 : c.retransmitted / c.dataSegmentsOut;
  const verdict = grade(ratio, THRESHOLDS.lossRatio);
  const check: CheckResult = {
    id: 'tcp-retransmissions',
    group: 'connection',
    verdict,
    measured:
      `${c.retransmitted} of ${c.dataSegmentsOut} segments retransmitted (${percent(ratio)})` +
      (c.rttMs === undefined ? '' : `; kernel srtt ${ms(c.rttMs)}`),
    threshold: describeLimit(THRESHOLDS.lossRatio, percent),
    values: { segments: c.dataSegmentsOut, retransmitted: c.retransmitted, ratio: round(ratio, 4) },
  };
  if (verdict !== 'pass') {
    check.fix =
      'packets to the server are lost and resent: check the Wi-Fi retransmissions and signal, then the wired path';
  }
  return check;
}

function heartbeatCheck(m: SessionMeasurement): CheckResult {
  const interval = m.welcome?.heartbeatIntervalMs ?? 0;
  // The first heartbeat comes one interval after the welcome; allow one to be in flight at the end.
  const expected = interval > 0 ? Math.max(0, Math.floor(m.heldMs / interval) - 1) : 0;
  const verdict = m.heartbeats >= expected ? 'pass' : 'fail';
  const check: CheckResult = {
    id: 'heartbeats',
    group: 'connection',
    verdict,
    measured:
      expected === 0 && m.heartbeats === 0
        ? `none expected in ${Math.round(m.heldMs / 1000)} s (one every ${interval / 1000} s); each answered at once`
        : `${m.heartbeats} received and acknowledged in ${Math.round(m.heldMs / 1000)} s (at least ${expected} expected)`,
    threshold: 'one per heartbeat interval',
    values: { received: m.heartbeats, expected },
  };
  if (verdict === 'fail') {
    check.fix = 'the server’s heartbeats did not arrive: something holds or drops server-to-device traffic';
  }
  return check;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;
