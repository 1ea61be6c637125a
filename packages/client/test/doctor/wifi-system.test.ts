/**
 * The part of the doctor that runs the Wi-Fi tools (wifi-system.ts), on a system that answers with recorded
 * outputs (fixtures/README.md): which commands it runs and in what order, and what it says when it
 * cannot read something — no Wi-Fi interface, no iw, not associated, not permitted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DoctorSystem, ToolOutput } from '../../src/doctor/system.js';
import { startWifiWindow } from '../../src/doctor/wifi-system.js';
import { fixture } from './helpers.js';

function recorded(
  answers: Record<string, ToolOutput | string>,
  options: { wireless?: boolean; root?: boolean; tools?: string[] } = {},
): DoctorSystem & { ran: string[] } {
  const ran: string[] = [];
  const tools = options.tools ?? ['iw', 'wpa_cli'];
  return {
    ran,
    run: (program, args) => {
      const line = [program.split('/').pop(), ...args].join(' ');
      ran.push(line);
      const answer = answers[line];
      if (answer === undefined) return Promise.resolve({ stdout: '', stderr: 'command failed', code: 1 });
      return Promise.resolve(typeof answer === 'string' ? { stdout: answer, stderr: '', code: 0 } : answer);
    },
    which: (program) => Promise.resolve(tools.includes(program) ? `/usr/sbin/${program}` : undefined),
    interfaces: () =>
      Promise.resolve([
        { name: 'lo', carrier: '1', wireless: false, physical: false },
        { name: 'wlp0s20f3', carrier: '1', wireless: options.wireless ?? true, physical: true },
      ]),
    isRoot: () => options.root ?? true,
  };
}

const ASSOCIATED = {
  'iw dev wlp0s20f3 link': fixture('iw-link-wlp0s20f3.txt'),
  'iw dev wlp0s20f3 station dump': fixture('iw-station-dump-ath9k-qca9563.txt'),
  'iw dev wlp0s20f3 survey dump': fixture('iw-survey-ath10k-first.txt'),
  'iw dev wlp0s20f3 scan dump': fixture('iw-scan-openwrt-ft-sae.txt'),
  'wpa_cli -i wlp0s20f3 status': fixture('wpa-cli-status-completed.txt'),
};

describe('reading the Wi-Fi from the system', () => {
  it('runs link, station and survey at the start, again at the end with the scan and the supplicant', async () => {
    const system = recorded(ASSOCIATED);
    const window = await startWifiWindow(system, { routeDevice: 'wlp0s20f3' });
    assert.deepEqual(system.ran, [
      'iw dev wlp0s20f3 link',
      'iw dev wlp0s20f3 station dump',
      'iw dev wlp0s20f3 survey dump',
    ]);
    const checks = await window.finish();
    assert.deepEqual(system.ran.slice(3), [
      'iw dev wlp0s20f3 station dump',
      'iw dev wlp0s20f3 survey dump',
      'iw dev wlp0s20f3 scan dump',
      'wpa_cli -i wlp0s20f3 status',
    ]);
    const association = checks.find((c) => c.id === 'wifi-association');
    assert.notEqual(association?.verdict, 'skip', JSON.stringify(association));
    assert.match(association?.measured ?? '', /HOME5/);
  });

  it('says why when there is no Wi-Fi interface, no iw, or no association — and runs nothing it cannot', async () => {
    const none = recorded(ASSOCIATED, { wireless: false });
    for (const check of await (await startWifiWindow(none, { routeDevice: 'lo' })).finish()) {
      assert.equal(check.verdict, 'skip');
      assert.match(
        check.measured,
        /no Wi-Fi interface on this host \(interfaces: lo, wlp0s20f3; the server is reached through lo\)/,
      );
    }
    assert.deepEqual(none.ran, []);

    const noIw = recorded(ASSOCIATED, { tools: [] });
    for (const check of await (await startWifiWindow(noIw)).finish()) {
      assert.match(check.measured, /iw is not installed/);
    }
    assert.deepEqual(noIw.ran, []);

    const away = recorded({ 'iw dev wlp0s20f3 link': fixture('iw-link-not-connected-constructed.txt') });
    for (const check of await (await startWifiWindow(away)).finish()) {
      assert.match(check.measured, /wlp0s20f3 is not associated with an access point/);
    }
    assert.deepEqual(away.ran, ['iw dev wlp0s20f3 link']);
  });

  it('names missing permission as the reason a dump printed nothing', async () => {
    const denied: ToolOutput = {
      stdout: '',
      stderr: 'command failed: Operation not permitted (-1)',
      code: 255,
    };
    const system = recorded(
      {
        ...ASSOCIATED,
        'iw dev wlp0s20f3 station dump': denied,
        'iw dev wlp0s20f3 survey dump': denied,
      },
      { root: false },
    );
    const checks = await (await startWifiWindow(system)).finish();
    const utilisation = checks.find((c) => c.id === 'channel-utilisation');
    const retries = checks.find((c) => c.id === 'retransmissions');
    assert.equal(utilisation?.verdict, 'skip');
    assert.match(
      utilisation?.measured ?? '',
      /iw survey dump: not permitted \(run the doctor as root or with CAP_NET_ADMIN\)/,
    );
    assert.equal(retries?.verdict, 'skip');
    assert.match(retries?.measured ?? '', /iw station dump: not permitted/);
  });
});
