/**
 * The network doctor's vocabulary: a check's verdict, its measured figure and threshold and fix, and the
 * thresholds themselves. The Wi-Fi thresholds are Apple's ("Maintaining a Reliable Network Connection":
 * channel utilisation ideally 40 % or less; retransmissions typically not more than 15 % of all traffic;
 * 802.11r/k/v where the deployment allows). The others are localpush's defaults, each with its reason, and
 * docs/network.md says which is which.
 */

/** `skip` = the check could not run here (no Wi-Fi interface, no permission); it never counts as passed. */
export const VERDICTS = ['pass', 'warn', 'fail', 'skip'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const CHECK_GROUPS = ['reachability', 'connection', 'wifi'] as const;
export type CheckGroup = (typeof CHECK_GROUPS)[number];

/** One line of a doctor report. */
export interface CheckResult {
  /** Stable id (`route`, `tcp-connect`, `rtt`, `channel-utilisation`, …) for scripts reading `--json`. */
  id: string;
  group: CheckGroup;
  verdict: Verdict;
  /** What was measured, in words with units ("p50 2.1 ms, p99 9.8 ms over 300 probes"). */
  measured: string;
  /** The threshold it was judged against, and whose it is ("≤ 40 % (Apple)"). */
  threshold?: string;
  /** One sentence on what to do; present for warn, fail and skip. */
  fix?: string;
  /** The figures behind `measured`, for machines. */
  values?: Record<string, number | string | boolean | null>;
}

/** A limit that warns above `warn` and fails above `fail` (or below, for `direction: 'min'`). */
export interface Limit {
  warn: number;
  fail: number;
  direction?: 'max' | 'min';
  /** Who set it: `apple` (the seed document) or `localpush` (our default, reason in docs/network.md). */
  source: 'apple' | 'localpush';
}

export const THRESHOLDS = {
  /** Apple: channel utilisation ideally 40 % or less. Above 60 % the channel is clearly congested. */
  channelUtilisation: { warn: 0.4, fail: 0.6, source: 'apple' },
  /** Apple: retransmissions typically not more than 15 % of all traffic. Above 25 %: failing. */
  retransmissions: { warn: 0.15, fail: 0.25, source: 'apple' },
  /** Frames the driver gave up on after all retries: real loss at the radio. */
  txFailed: { warn: 0.01, fail: 0.05, source: 'localpush' },
  /** -67 dBm is the usual design target for voice over Wi-Fi; below -75 dBm links fail and roam late. */
  signal: { warn: -67, fail: -75, direction: 'min', source: 'localpush' },
  /** Round trip through the server, median and tail. A local network answers in a few milliseconds. */
  rttP50Ms: { warn: 100, fail: 300, source: 'localpush' },
  rttP99Ms: { warn: 250, fail: 1000, source: 'localpush' },
  /** Mean difference between successive round trips; 30 ms is the common limit for voice. */
  jitterMs: { warn: 30, fail: 100, source: 'localpush' },
  /** TCP segments retransmitted on the session: packet loss on the path to the server. */
  lossRatio: { warn: 0.01, fail: 0.05, source: 'localpush' },
  tcpConnectMs: { warn: 100, fail: 1000, source: 'localpush' },
  tlsHandshakeMs: { warn: 300, fail: 2000, source: 'localpush' },
  dnsMs: { warn: 200, fail: 2000, source: 'localpush' },
  /** Days of certificate validity left before the doctor warns. */
  certificateDays: { warn: 30, fail: 0, direction: 'min', source: 'localpush' },
} as const satisfies Record<string, Limit>;

/** Grades a value against a limit. */
export function grade(value: number, limit: Limit): Exclude<Verdict, 'skip'> {
  if (limit.direction === 'min') return value < limit.fail ? 'fail' : value < limit.warn ? 'warn' : 'pass';
  return value > limit.fail ? 'fail' : value > limit.warn ? 'warn' : 'pass';
}

/** The worse of two verdicts (fail > warn > skip > pass). */
export function worst(a: Verdict, b: Verdict): Verdict {
  const rank: Record<Verdict, number> = { pass: 0, skip: 1, warn: 2, fail: 3 };
  return rank[a] >= rank[b] ? a : b;
}

/** "≤ 40 % (Apple)": a limit in words, with a formatter for the number. */
export function describeLimit(limit: Limit, format: (n: number) => string): string {
  const who = limit.source === 'apple' ? 'Apple' : 'localpush default';
  return limit.direction === 'min'
    ? `≥ ${format(limit.warn)}, fails below ${format(limit.fail)} (${who})`
    : `≤ ${format(limit.warn)}, fails above ${format(limit.fail)} (${who})`;
}

export const percent = (ratio: number): string => `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)} %`;
export const ms = (value: number): string =>
  `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)} ms`;

/** The one percentile (nearest rank), shared with the server's health view. */
export { percentile } from '@localpush/protocol';

/**
 * Jitter as the mean absolute difference between successive round trips (RFC 3550's D, unsmoothed): how
 * much one packet's delay differs from the one before, which is what a voice stream feels.
 */
export function meanAbsoluteDifference(values: readonly number[]): number | undefined {
  if (values.length < 2) return undefined;
  let sum = 0;
  for (let i = 1; i < values.length; i++) sum += Math.abs((values[i] ?? 0) - (values[i - 1] ?? 0));
  return sum / (values.length - 1);
}

/** A check that could not run: says why, and what would let it run. Never counted as passed. */
export function skipped(id: string, group: CheckGroup, why: string, fix?: string): CheckResult {
  const result: CheckResult = { id, group, verdict: 'skip', measured: `not runnable: ${why}` };
  if (fix !== undefined) result.fix = fix;
  return result;
}

/** Counts by verdict, and the exit status: 2 with any failure, 1 with warnings or checks that could not run. */
export function summarise(checks: readonly CheckResult[]): {
  pass: number;
  warn: number;
  fail: number;
  skip: number;
  exitCode: 0 | 1 | 2;
} {
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const check of checks) counts[check.verdict] += 1;
  const exitCode = counts.fail > 0 ? 2 : counts.warn > 0 || counts.skip > 0 ? 1 : 0;
  return { ...counts, exitCode };
}
