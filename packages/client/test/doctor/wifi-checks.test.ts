/**
 * The Wi-Fi checks against Apple's thresholds, fed with parsed fixtures: channel utilisation (busy / active,
 * ≤ 40 %), retransmissions (Δ retries / Δ packets, ≤ 15 %) and the roaming enhancements 802.11r/k/v.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarise, type CheckResult } from '../../src/doctor/checks.js';
import {
  channelUtilisation,
  retransmissionRatio,
  wifiChecks,
  wifiNotRunnable,
  type WifiObservation,
} from '../../src/doctor/wifi-checks.js';
import {
  parseIwLink,
  parseIwScan,
  parseIwStations,
  parseIwSurvey,
  parseWpaCliStatus,
  type StationCounters,
  type SurveyEntry,
} from '../../src/sdk/wifi-parsers.js';
import { fixture } from './helpers.js';

const byId = (checks: CheckResult[], id: string): CheckResult => {
  const found = checks.find((c) => c.id === id);
  assert.ok(found, id);
  return found;
};

const survey = (activeMs: number, busyMs: number, freqMhz = 2437): SurveyEntry[] => [
  { freqMhz: 2412, inUse: false, activeMs: 100, busyMs: 90 },
  { freqMhz, inUse: true, activeMs, busyMs },
];

test('channel utilisation: over the window, graded at 40 % and 60 %', () => {
  const u = channelUtilisation(survey(10_000, 3_000), survey(70_000, 41_000), 2437);
  assert.deepEqual(u, {
    ok: true,
    basis: 'window',
    ratio: 38_000 / 60_000,
    activeMs: 60_000,
    busyMs: 38_000,
    freqMhz: 2437,
  });
  const link = parseIwLink(fixture('iw-link-wlp0s20f3.txt'));
  const grade = (before: SurveyEntry[], after: SurveyEntry[]): CheckResult =>
    byId(
      wifiChecks({
        interface: 'wlan0',
        link: { ...link, freqMhz: 2437 },
        surveyBefore: before,
        surveyAfter: after,
      }),
      'channel-utilisation',
    );
  assert.equal(grade(survey(0, 0), survey(10_000, 4_000)).verdict, 'pass', 'exactly 40 %');
  assert.equal(grade(survey(0, 0), survey(10_000, 4_100)).verdict, 'warn');
  const busy = grade(survey(0, 0), survey(10_000, 6_300));
  assert.equal(busy.verdict, 'fail');
  assert.match(busy.measured, /channel 6 was 63 % busy over the window/);
  assert.match(
    busy.fix ?? '',
    /^channel 6 is 63 % busy: move the SSID to a less used channel or to the 5 GHz band/,
  );
  assert.match(busy.threshold ?? '', /≤ 40 %.*Apple/);
});

test('channel utilisation: ath10k counters that reset between reads, and drivers without busy time', () => {
  const first = parseIwSurvey(fixture('iw-survey-ath10k-first.txt'));
  const second = parseIwSurvey(fixture('iw-survey-ath10k-second-reset.txt'));
  const u = channelUtilisation(first, second, 5180);
  assert.equal(u.ok && u.basis, 'since-reset');
  assert.equal(u.ok && u.ratio, 254 / 32592);
  // One reading: the counters' whole life.
  const single = channelUtilisation(undefined, first, 5180);
  assert.equal(single.ok && single.basis, 'cumulative');
  assert.equal(single.ok && single.ratio, 432 / 54995);

  const noBusy = parseIwSurvey(fixture('iw-survey-wcn3620-noise-only.txt'));
  const r = channelUtilisation(noBusy, noBusy, 2447);
  assert.deepEqual(r, {
    ok: false,
    error: 'the driver reports no channel busy time for 2447 MHz (its survey has only noiseDbm)',
  });
  const check = byId(
    wifiChecks({
      interface: 'wlan0',
      link: parseIwLink(fixture('iw-link-wcn3620.txt')),
      surveyBefore: noBusy,
      surveyAfter: noBusy,
    }),
    'channel-utilisation',
  );
  assert.equal(check.verdict, 'skip');
  assert.match(check.measured, /^not runnable: the driver reports no channel busy time/);
  assert.ok(check.fix);
});

test('retransmissions: Δ retries / Δ packets over the window, and tx failed', () => {
  const [start] = parseIwStations(fixture('iw-station-dump-mt7603-ap.txt'));
  assert.ok(start);
  const later = (packets: number, retries: number, failed = 0): StationCounters => ({
    ...start,
    txPackets: (start.txPackets ?? 0) + packets,
    txRetries: (start.txRetries ?? 0) + retries,
    txFailed: (start.txFailed ?? 0) + failed,
  });
  assert.deepEqual(retransmissionRatio(start, later(1000, 150)), {
    ok: true,
    basis: 'window',
    ratio: 0.15,
    packets: 1000,
    retries: 150,
    failedRatio: 0,
  });
  const check = (after: StationCounters): CheckResult =>
    byId(
      wifiChecks({
        interface: 'phy0-ap0',
        link: { connected: true, freqMhz: 5180, signalDbm: -50 },
        stationBefore: start,
        stationAfter: after,
      }),
      'retransmissions',
    );
  assert.equal(check(later(1000, 150)).verdict, 'pass', 'exactly 15 %');
  assert.equal(check(later(1000, 151)).verdict, 'warn');
  assert.equal(check(later(1000, 260)).verdict, 'fail');
  assert.equal(check(later(1000, 10, 20)).verdict, 'warn', '2 % of frames failed outright');
  // Cumulative since association when there is no usable first reading.
  const cumulative = retransmissionRatio(undefined, start);
  assert.equal(cumulative.ok && cumulative.basis, 'cumulative');
  assert.equal(cumulative.ok && cumulative.ratio, 298 / 13502);
  // rtl8723bs: no tx retries at all.
  const [rtl] = parseIwStations(fixture('iw-station-get-rtl8723bs.txt'));
  const skipped = check(rtl ?? {});
  assert.equal(skipped.verdict, 'skip');
  assert.match(skipped.measured, /the driver reports no tx retries/);
});

test('roaming: FT, RM neighbour reports and BSS transition from the scan, FT from the supplicant', () => {
  const uwe = parseIwScan(fixture('iw-scan-uwe5622-rm-bss-transition.txt'));
  const link = { connected: true, bssid: '54:67:51:1e:9b:67', freqMhz: 2412, signalDbm: -70 } as const;
  const checks = wifiChecks({ interface: 'wlan0', link, scan: uwe });
  assert.equal(byId(checks, 'roaming-802.11k').verdict, 'pass');
  assert.equal(byId(checks, 'roaming-802.11v').verdict, 'pass');
  const r = byId(checks, 'roaming-802.11r');
  assert.equal(r.verdict, 'warn', '802.11r is advised where the deployment allows, never a failure');
  assert.match(r.fix ?? '', /enable 802\.11r/);
  assert.equal(byId(checks, 'wifi-association').verdict, 'warn', '-70 dBm is below -67 dBm');

  const withFt = wifiChecks({
    interface: 'wlan0',
    link,
    scan: uwe,
    wpa: parseWpaCliStatus(fixture('wpa-cli-status-ft-psk-constructed.txt')),
  });
  assert.equal(byId(withFt, 'roaming-802.11r').verdict, 'pass');

  // The associated BSS of a big scan, found by the "-- associated" mark when the link has no BSSID.
  const jc = parseIwScan(fixture('iw-scan-jc-1.txt'));
  const assoc = wifiChecks({ interface: 'wlan0', link: { connected: true, signalDbm: -60 }, scan: jc });
  assert.notEqual(byId(assoc, 'roaming-802.11v').verdict, 'skip');

  // Nothing in the scan cache for this access point: not runnable, with the way to fix it.
  const none = wifiChecks({
    interface: 'wlan0',
    link: { connected: true, bssid: '02:00:00:00:00:01' },
    scan: uwe,
  });
  for (const id of ['roaming-802.11r', 'roaming-802.11k', 'roaming-802.11v']) {
    assert.equal(byId(none, id).verdict, 'skip');
    assert.match(byId(none, id).fix ?? '', /iw dev wlan0 scan/);
  }
});

test('the whole Wi-Fi report of an observation, and of a device without Wi-Fi', () => {
  const obs: WifiObservation = {
    interface: 'wlp0s20f3',
    link: parseIwLink(fixture('iw-link-wlp0s20f3.txt')),
    surveyBefore: survey(1_000, 100, 5280),
    surveyAfter: survey(61_000, 12_100, 5280),
    stationBefore: { txPackets: 1000, txRetries: 50, txFailed: 0 },
    stationAfter: { txPackets: 3000, txRetries: 150, txFailed: 0 },
    scan: [],
  };
  const checks = wifiChecks(obs);
  assert.deepEqual(
    checks.map((c) => [c.id, c.verdict]),
    [
      ['wifi-association', 'pass'],
      ['channel-utilisation', 'pass'],
      ['retransmissions', 'pass'],
      ['roaming-802.11r', 'skip'],
      ['roaming-802.11k', 'skip'],
      ['roaming-802.11v', 'skip'],
    ],
  );
  assert.match(
    byId(checks, 'wifi-association').measured,
    /SSID "HOME5", BSSID 64:d1:54:68:93:ae, 5 GHz channel 56, signal -44 dBm/,
  );
  const none = wifiNotRunnable(
    'no Wi-Fi interface on this device',
    'run the doctor on the device that uses Wi-Fi.',
  );
  assert.equal(none.length, 6);
  assert.ok(
    none.every((c) => c.verdict === 'skip' && c.measured.startsWith('not runnable: no Wi-Fi interface')),
  );
  assert.deepEqual(summarise(none), { pass: 0, warn: 0, fail: 0, skip: 6, exitCode: 1 });
  assert.equal(summarise([...checks.slice(0, 3)]).exitCode, 0);
});
