/**
 * `localpush doctor` against a real server on loopback: the reachability and connection checks pass, the
 * Wi-Fi checks say why they cannot run (and are not counted as passed: exit 1), the device's own session
 * is untouched by the diagnostic one, and each failure (wrong pin, nothing listening, a bad credential)
 * is a failed check with its fix and exit 2.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DeviceClient, type CheckResult, type DoctorReport } from '@localpush/client';
import { readSysNet } from '../../client/src/sdk/network.js';
import type { CliIo } from '../src/common.js';
import { run } from '../src/main.js';
import { startLoopbackServer, type LoopbackServer } from '../../server/test/helpers/loopback-server.js';

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    untilInterrupted: () => Promise.resolve(),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

const byId = (report: DoctorReport, id: string): CheckResult => {
  const check = report.checks.find((c) => c.id === id);
  assert.ok(check, `no check "${id}" in ${report.checks.map((c) => c.id).join(', ')}`);
  return check;
};

describe('localpush doctor on a device', () => {
  let lp: LoopbackServer;
  let credential: string;
  let url: string;

  before(async () => {
    lp = await startLoopbackServer('lp-doctor-', { heartbeatIntervalMs: 1000, heartbeatGraceMs: 500 });
    const added = await lp.call<{ credential: string }>('POST', '/v1/devices', { id: 'ward-7' });
    credential = added.body.credential;
    url = `tls://127.0.0.1:${lp.server.addresses.tls.port}`;
  });
  after(() => lp.close());

  it('passes reachability and connection on loopback, and says why the Wi-Fi checks cannot run', async () => {
    // The device's own session is open throughout: the diagnostic session must not replace it. [LP-10.3]
    const device = new DeviceClient({ url, deviceId: 'ward-7', credential, pin: lp.server.identity.spkiPin });
    const goaways: unknown[] = [];
    device.on('goaway', (g) => goaways.push(g));
    device.start();
    await once(device, 'connected');
    try {
      const { code, stdout } = await cli([
        'doctor',
        ...['--device', 'ward-7', '--credential', credential, '--url', url],
        ...['--pin', lp.server.identity.spkiPin, '--window', '3', '--interval', '20', '--json'],
      ]);
      const report = JSON.parse(stdout) as DoctorReport;
      for (const id of ['route', 'tcp-connect', 'tls-handshake', 'pin', 'certificate']) {
        assert.equal(byId(report, id).verdict, 'pass', JSON.stringify(byId(report, id)));
      }
      for (const id of ['session', 'rtt', 'jitter', 'probe-loss', 'tcp-retransmissions', 'heartbeats']) {
        assert.equal(byId(report, id).verdict, 'pass', JSON.stringify(byId(report, id)));
      }
      assert.match(byId(report, 'route').measured, /is this host \(dev lo\)/);
      const rtt = byId(report, 'rtt');
      assert.ok(Number(rtt.values?.probes) >= 50, `few probes: ${rtt.measured}`);
      assert.equal(byId(report, 'probe-loss').values?.lost, 0);
      // 3 s at one heartbeat a second: at least two heartbeats arrived and were acknowledged.
      assert.ok(Number(byId(report, 'heartbeats').values?.received) >= 2);

      const wifi = report.checks.filter((c) => c.group === 'wifi');
      assert.ok(wifi.length >= 6);
      for (const check of wifi) {
        assert.equal(check.verdict, 'skip');
        assert.match(check.measured, /^not runnable: /);
        assert.ok(check.fix);
      }
      if (!(await readSysNet()).some((i) => i.wireless)) {
        assert.match(byId(report, 'channel-utilisation').measured, /no Wi-Fi interface on this host/);
      }
      // Not runnable is not passed: warnings-or-skips exit status.
      assert.equal(report.summary.fail, 0);
      assert.equal(code, 1);
      assert.equal(report.summary.exitCode, 1);

      assert.deepEqual(goaways, []);
      assert.equal(device.state, 'connected');
      assert.equal(lp.server.gateway.presence.isOnline('ward-7'), true);
    } finally {
      await device.stop();
    }
  });

  it('prints a text report with the threshold and fix under each line', async () => {
    const { code, stdout, stderr } = await cli([
      'doctor',
      ...['--device', 'ward-7', '--credential', credential, '--url', url],
      ...['--pin', lp.server.identity.spkiPin, '--window', '1', '--interval', '50', '--no-wifi'],
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /holding a diagnostic session for 1 s/);
    assert.match(stdout, /^Reachability$/m);
    assert.match(stdout, /PASS {2}rtt +p50 [\d.]+ ms, p99 [\d.]+ ms/);
    assert.match(stdout, /threshold: p50 ≤ 100 ms/);
    assert.match(stdout, /SKIP {2}channel-utilisation +not runnable: not asked for \(--no-wifi\)/);
    assert.match(stdout, /passed, 0 warnings, 0 failed, \d+ not runnable .* exit 1$/m);
  });

  it('fails the pin check (exit 2) when the server presents another key', async () => {
    const wrongPin = Buffer.alloc(32, 7).toString('base64');
    const { code, stdout } = await cli([
      'doctor',
      ...['--device', 'ward-7', '--credential', credential, '--url', url, '--pin', wrongPin],
      ...['--window', '1', '--no-wifi', '--json', '--tries', '2'],
    ]);
    const report = JSON.parse(stdout) as DoctorReport;
    assert.equal(code, 2);
    const pin = byId(report, 'pin');
    assert.equal(pin.verdict, 'fail');
    assert.match(
      pin.measured,
      new RegExp(`presented key ${lp.server.identity.spkiPin.replace(/[+/]/g, '\\$&')}`),
    );
    assert.match(byId(report, 'session').measured, /LP_CLIENT_PIN_MISMATCH/);
    assert.equal(byId(report, 'rtt').verdict, 'skip');
  });

  it('fails the session with the auth code when the credential is wrong', async () => {
    const { code, stdout } = await cli([
      'doctor',
      ...['--device', 'ward-7', '--credential', 'not-the-credential', '--url', url],
      ...['--pin', lp.server.identity.spkiPin, '--window', '1', '--no-wifi', '--json', '--tries', '1'],
    ]);
    const report = JSON.parse(stdout) as DoctorReport;
    assert.equal(code, 2);
    const session = byId(report, 'session');
    assert.equal(session.verdict, 'fail');
    assert.equal(session.values?.code, 'LP_AUTH_FAILED');
    assert.match(session.fix ?? '', /re-enrol the device/);
  });

  it('fails tcp-connect with a named fix when nothing listens', async () => {
    // A port that was free a moment ago: bind, note it, close.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const { code, stdout } = await cli([
      'doctor',
      ...['--device', 'ward-7', '--credential', credential, '--url', `tls://127.0.0.1:${port}`],
      ...['--pin', lp.server.identity.spkiPin, '--window', '1', '--no-wifi', '--json', '--tries', '2'],
    ]);
    const report = JSON.parse(stdout) as DoctorReport;
    assert.equal(code, 2);
    const tcp = byId(report, 'tcp-connect');
    assert.equal(tcp.verdict, 'fail');
    assert.match(tcp.measured, /failed 2 of 2 times \(ECONNREFUSED\)/);
    assert.match(tcp.fix ?? '', /nothing listens there/);
  });

  it('prints its help and refuses bad usage with exit 2', async () => {
    const help = await cli(['doctor', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: localpush doctor/);
    assert.match(help.stdout, /Exit status: 0 every check passed/);
    for (const [argv, message] of [
      [['doctor'], /needs --device and --credential/],
      [['doctor', '--device', 'a', '--credential', 'b', '--quick', '--window', '5'], /--quick or --window/],
      [['doctor', '--device', 'a', '--credential', 'b', '--url', 'wss://x:1/v1'], /--url must be tls:/],
      [['doctor', '--device', 'a', '--credential', 'b', '--pad', '5000'], /--pad must be a whole number/],
      [['doctor', '--device', 'a', '--credential', 'b', '--expect-subnet', 'lan'], /IPv4 CIDR/],
    ] as const) {
      const { code, stderr } = await cli([...argv]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
    }
  });
});
