/**
 * The doctor measured against a known network: a link shaped by the framing-aware delay-and-drop proxy
 * (test/helpers/shaping-proxy.ts) on loopback — a fixed delay, a uniform jitter and a share of dropped
 * probes — and `localpush doctor` must report round trip p50/p99, jitter and loss within ±20 % of what
 * was imposed. The same doctor on the bare loopback is the healthy baseline the imposed figures sit on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckResult, DoctorReport } from '@localpush/client';
import { startLoopbackServer, type LoopbackServer } from '../../server/test/helpers/loopback-server.js';
import { cli } from './helpers/run.js';
import { startShapingProxy, type Shaping } from './helpers/shaping-proxy.js';

const value = (report: DoctorReport, id: string, key: string): number => {
  const check: CheckResult | undefined = report.checks.find((c) => c.id === id);
  const v = check?.values?.[key];
  assert.equal(typeof v, 'number', `${id}.${key} in ${JSON.stringify(check)}`);
  return v as number;
};

/** Undefined when `measured` is within ±20 % of `imposed`, else what is off. */
function offBy(measured: number, imposed: number, what: string): string | undefined {
  const off = Math.abs(measured - imposed) / imposed;
  return off <= 0.2
    ? undefined
    : `${what}: measured ${measured}, imposed ${imposed} (${(off * 100).toFixed(1)} % off)`;
}

/**
 * Windows measured before the timing figures are judged failed. The machine the suite runs on is shared
 * (a loaded 2-core box has stretched one window's p99 from 89.6 to 130 ms: the doctor measured the CPU,
 * not the link), so a window whose timing is off is measured again, up to this many in all; the counts
 * (probes sent, dropped) must match in every window.
 */
const WINDOWS = 3;

describe('the doctor on a shaped link', () => {
  let lp: LoopbackServer;
  let credential: string;

  before(async () => {
    lp = await startLoopbackServer('lp-doctor-shaped-', { tcpPort: 0 });
    credential = (await lp.call<{ credential: string }>('POST', '/v1/devices', { id: 'bridge-1' })).body
      .credential;
  });
  after(() => lp.close());

  async function doctorThrough(port: number): Promise<DoctorReport> {
    const run = cli([
      'doctor',
      ...['--device', 'bridge-1', '--credential', credential, '--url', `tcp://127.0.0.1:${port}`],
      // 100 probes, 80 ms apart: more than the jitter's spread, so the proxy never has to hold one back
      // behind the one before to keep the stream's order.
      ...['--window', '8', '--interval', '80', '--tries', '2', '--no-wifi', '--json'],
    ]);
    await run.code;
    return JSON.parse(run.stdout.join('')) as DoctorReport;
  }

  it('reports the imposed delay, jitter and loss within ±20 %', async (t) => {
    const shaping: Shaping = { delayMs: 50, jitterMs: 40, probeDropShare: 0.1, seed: 16 };
    const proxy = await startShapingProxy({ port: lp.server.addresses.tcp?.port ?? 0 }, shaping);
    try {
      let misses: string[] = [];
      for (let window = 1; window <= WINDOWS; window++) {
        const droppedBefore = proxy.counts.dropped;
        const report = await doctorThrough(proxy.port);
        const sent = value(report, 'probe-loss', 'sent');
        assert.ok(sent >= 50, `only ${sent} probes in 8 s`);
        assert.equal(value(report, 'probe-loss', 'lost'), proxy.counts.dropped - droppedBefore);
        misses = [
          offBy(value(report, 'rtt', 'p50Ms'), shaping.delayMs + shaping.jitterMs / 2, 'RTT p50'),
          offBy(value(report, 'rtt', 'p99Ms'), shaping.delayMs + 0.99 * shaping.jitterMs, 'RTT p99'),
          offBy(value(report, 'jitter', 'ms'), shaping.jitterMs / 3, 'jitter'),
          offBy(value(report, 'probe-loss', 'ratio'), shaping.probeDropShare, 'loss'),
        ].filter((miss): miss is string => miss !== undefined);
        if (misses.length === 0) break;
        t.diagnostic(`window ${window} of ${WINDOWS}: ${misses.join('; ')}`);
      }
      assert.deepEqual(misses, [], `off by more than 20 % in each of ${WINDOWS} windows`);
    } finally {
      await proxy.close();
    }
  });
});
