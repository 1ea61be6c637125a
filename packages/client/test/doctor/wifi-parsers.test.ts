/**
 * The Wi-Fi parsers on outputs recorded from real drivers and tool versions (fixtures/README.md says where
 * each came from, and which few were constructed and why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bandOf,
  channelOf,
  isFtAkm,
  isFtKeyMgmt,
  nmcliAccessPoints,
  parseIwLink,
  parseIwScan,
  parseIwStations,
  parseIwSurvey,
  parseNmcliTerseTable,
  parseWpaCliStatus,
  scanLoadByBss,
} from '../../src/sdk/wifi-parsers.js';
import { fixture } from './helpers.js';

test('iw link: full outputs from iwlwifi-class and wcn36xx drivers', () => {
  assert.deepEqual(parseIwLink(fixture('iw-link-wlp0s20f3.txt')), {
    connected: true,
    bssid: '64:d1:54:68:93:ae',
    interface: 'wlp0s20f3',
    ssid: 'HOME5',
    freqMhz: 5280,
    signalDbm: -44,
    rxBitrateMbps: 702,
    txBitrateMbps: 866.7,
  });
  const wcn = parseIwLink(fixture('iw-link-wcn3680b.txt'));
  assert.equal(wcn.freqMhz, 5300);
  assert.equal(wcn.signalDbm, -27);
  assert.equal(wcn.txBitrateMbps, 6);
});

test('iw link: missing fields, redacted addresses and "Not connected."', () => {
  // wcn3620 prints no bitrates at all.
  const minimal = parseIwLink(fixture('iw-link-wcn3620.txt'));
  assert.equal(minimal.signalDbm, -37);
  assert.equal(minimal.txBitrateMbps, undefined);
  assert.equal(minimal.rxBitrateMbps, undefined);
  // A reporter's "<BSSID>" / "xx:xx" is kept out of the bssid field instead of becoming a bogus MAC.
  const redacted = parseIwLink(fixture('iw-link-rtl8723bs-redacted.txt'));
  assert.equal(redacted.connected, true);
  assert.equal(redacted.bssid, undefined);
  assert.equal(redacted.freqMhz, 2427);
  assert.equal(parseIwLink(fixture('iw-link-rtl8812au-redacted.txt')).interface, 'wlx00');
  assert.equal(parseIwLink(fixture('iw-link-redacted-bss-flags.txt')).signalDbm, -60);
  assert.deepEqual(parseIwLink(fixture('iw-link-not-connected-constructed.txt')), { connected: false });
  assert.deepEqual(parseIwLink(''), { connected: false });
});

test('iw station dump/get: counters from mt7603, ath9k, ath10k, mwlwifi; rtl8723bs without retries', () => {
  const [mt] = parseIwStations(fixture('iw-station-dump-mt7603-ap.txt'));
  assert.deepEqual(mt, {
    mac: '70:66:55:ce:21:3d',
    inactiveMs: 0,
    rxPackets: 12427,
    txPackets: 13502,
    txRetries: 298,
    txFailed: 4,
    signalDbm: -29,
  });
  // Trailing spaces after the values (as published) do not matter.
  assert.equal(parseIwStations(fixture('iw-station-dump-ath9k-qca9563.txt'))[0]?.signalDbm, -57);
  const ath10k = parseIwStations(fixture('iw-station-dump-ath10k-ipq4019.txt'))[0];
  assert.equal(ath10k?.txFailed, 3);
  assert.equal(ath10k?.txRetries, 0);
  assert.equal(parseIwStations(fixture('iw-station-dump-mwlwifi.txt'))[0]?.inactiveMs, 4294825206);
  const rtl = parseIwStations(fixture('iw-station-get-rtl8723bs.txt'));
  assert.equal(rtl.length, 1);
  assert.equal(rtl[0]?.mac, undefined);
  assert.equal(rtl[0]?.txPackets, 6618022);
  assert.equal(rtl[0]?.txRetries, undefined, 'this driver reports no retries');
  assert.deepEqual(parseIwStations(fixture('iw-station-dump-rtl8723bs-empty.txt')), []);
});

test('iw survey dump: ath10k counters, and wcn36xx with noise but no busy time', () => {
  assert.deepEqual(parseIwSurvey(fixture('iw-survey-ath10k-first.txt')), [
    { freqMhz: 5180, inUse: true, activeMs: 54995, busyMs: 432, receiveMs: 0, transmitMs: 59 },
  ]);
  const noBusy = parseIwSurvey(fixture('iw-survey-wcn3620-noise-only.txt'));
  assert.equal(noBusy.length, 8);
  assert.deepEqual(noBusy[0], { freqMhz: 2412, inUse: false });
  assert.deepEqual(noBusy[7], { freqMhz: 2447, inUse: true, noiseDbm: -75 });
  const wcn3680 = parseIwSurvey(fixture('iw-survey-wcn3680b-noise-only.txt'));
  assert.equal(wcn3680.length, 20);
  assert.deepEqual(
    wcn3680.filter((e) => e.inUse),
    [{ freqMhz: 5300, inUse: true, noiseDbm: -72 }],
  );
});

test('iw scan dump: RSN AKMs, FT, RM neighbour reports and BSS transition across iw versions', () => {
  // Old iw without RSN or extended capabilities.
  const old = parseIwScan(fixture('iw-scan-jc-0.txt'));
  assert.deepEqual(
    old.map((b) => [b.bssid, b.ssid, b.freqMhz, b.signalDbm]),
    [
      ['00:19:a9:cd:c6:80', 'Cisco1240', 2412, -45],
      ['d0:d0:fd:69:ca:70', 'Cisco1250', 2462, -70],
    ],
  );
  assert.ok(old.every((b) => !b.fastTransition && !b.bssTransition && !b.radioMeasurement));

  // 26 BSSes; one marked "-- associated"; BSS Transition in iw's one-line form; AKM 8 printed as a number.
  const many = parseIwScan(fixture('iw-scan-jc-1.txt'));
  assert.equal(many.length, 26);
  assert.deepEqual(
    many.filter((b) => b.associated).map((b) => b.bssid),
    ['ac:22:05:e6:ff:24'],
  );
  assert.equal(many[0]?.ssid, 'Hoeheitsgebiet');
  assert.equal(many[0]?.bssTransition, true);
  assert.deepEqual(many[0]?.akms, ['PSK']);
  assert.ok(many.some((b) => b.akms.includes('00-0f-ac:8')));
  assert.ok(
    many.every((b) => !b.fastTransition),
    'suite 8 is SAE, not FT',
  );
  assert.equal(many.filter((b) => b.bssTransition).length, 15);

  // Newer iw: extended capabilities as a list, and an RM element with Neighbor Report.
  const [rm] = parseIwScan(fixture('iw-scan-uwe5622-rm-bss-transition.txt'));
  assert.equal(rm?.bssTransition, true);
  assert.equal(rm?.radioMeasurement, true);
  assert.equal(rm?.neighborReport, true);
  assert.deepEqual(rm?.akms, ['PSK'], 'the RSN element, not the WPA one');
  assert.equal(
    scanLoadByBss(fixture('iw-scan-uwe5622-rm-bss-transition.txt')).get('54:67:51:1e:9b:67'),
    69 / 255,
  );

  // An OpenWrt AP with 802.11r: FT/PSK and FT/SAE among the AKMs; the BSSID was redacted by its reporter.
  const [ft] = parseIwScan(fixture('iw-scan-openwrt-ft-sae.txt'));
  assert.deepEqual(ft?.akms, ['PSK', 'FT/PSK', 'PSK/SHA-256', 'SAE', 'FT/SAE']);
  assert.equal(ft?.fastTransition, true);
  assert.equal(ft?.bssid, undefined);
  assert.equal(ft?.id, 'redacted');

  // OpenWrt's newer iw ("last seen … [boottime]"), a redacted BSSID, RSN with PSK only.
  const [owrt] = parseIwScan(fixture('iw-scan-jc-2.txt'));
  assert.equal(owrt?.ssid, 'Troubleshooting');
  assert.deepEqual(owrt?.akms, ['PSK']);
  assert.equal(owrt?.signalDbm, -54);
});

test('AKM and key_mgmt names', () => {
  for (const akm of ['FT/PSK', 'FT/IEEE 802.1X', 'FT/SAE', 'FT/SAE-EXT-KEY', '00-0f-ac:4', '00-0f-ac:9']) {
    assert.ok(isFtAkm(akm), akm);
  }
  for (const akm of ['PSK', 'SAE', 'IEEE 802.1X', '00-0f-ac:8', 'PSK/SHA-256']) assert.ok(!isFtAkm(akm), akm);
  assert.ok(isFtKeyMgmt('FT-PSK'));
  assert.ok(isFtKeyMgmt('FT-SAE'));
  assert.ok(!isFtKeyMgmt('WPA2-PSK'));
  assert.ok(!isFtKeyMgmt(undefined));
});

test('wpa_cli status: completed, associating, and FT in use', () => {
  const done = parseWpaCliStatus(fixture('wpa-cli-status-completed.txt'));
  assert.equal(done.state, 'COMPLETED');
  assert.equal(done.ssid, 'FRITZ!Box 7590 TN');
  assert.equal(done.bssid, 'dc:39:6f:a7:98:f1');
  assert.equal(done.freqMhz, 2462);
  assert.equal(done.keyMgmt, 'WPA2-PSK');
  const assoc = parseWpaCliStatus(fixture('wpa-cli-status-associating.txt'));
  assert.equal(assoc.state, 'ASSOCIATING');
  assert.equal(assoc.bssid, undefined);
  assert.equal(parseWpaCliStatus(`Selected interface 'wlan0'\nkey_mgmt=FT-PSK\n`).keyMgmt, 'FT-PSK');
  assert.ok(isFtKeyMgmt(parseWpaCliStatus(fixture('wpa-cli-status-ft-psk-constructed.txt')).keyMgmt));
});

const NM_FIELDS = [
  'NAME',
  'SSID',
  'SSID-HEX',
  'BSSID',
  'MODE',
  'CHAN',
  'FREQ',
  'RATE',
  'SIGNAL',
  'BARS',
  'SECURITY',
  'WPA-FLAGS',
  'RSN-FLAGS',
  'DEVICE',
  'ACTIVE',
  'IN-USE',
  'DBUS-PATH',
];

test('nmcli terse wifi list: escaped BSSIDs, two devices, C and Polish locales', () => {
  for (const file of ['nmcli-terse-wifi-list-C.txt', 'nmcli-terse-wifi-list-pl_PL.txt']) {
    const aps = nmcliAccessPoints(parseNmcliTerseTable(fixture(file), NM_FIELDS));
    assert.equal(aps.length, 4, file);
    assert.deepEqual(aps[0], {
      inUse: false,
      bssid: 'c0:e2:be:e8:ef:b6',
      ssid: 'wlan0-ap-2',
      channel: 44,
      freqMhz: 5220,
      signalPercent: 92,
      security: 'WPA1 WPA2',
      device: 'wlan0',
    });
    assert.equal(aps[3]?.device, 'wlan1');
    assert.ok(
      aps.every((ap) => !ap.inUse),
      `${file}: no access point in use`,
    );
  }
  // IN-USE decides whatever the language of ACTIVE ("tak" is Polish for yes).
  for (const file of [
    'nmcli-terse-wifi-list-C-active-constructed.txt',
    'nmcli-terse-wifi-list-pl_PL-active-constructed.txt',
  ]) {
    const aps = nmcliAccessPoints(parseNmcliTerseTable(fixture(file), NM_FIELDS));
    assert.deepEqual(
      aps.filter((ap) => ap.inUse).map((ap) => ap.bssid),
      ['c0:e2:be:e8:ef:b6'],
      file,
    );
  }
  // Without IN-USE, a localised ACTIVE ("ja") still counts.
  const de = nmcliAccessPoints(
    parseNmcliTerseTable(fixture('nmcli-terse-active-de-constructed.txt'), [
      'ACTIVE',
      'SSID',
      'BSSID',
      'CHAN',
      'FREQ',
      'SIGNAL',
      'SECURITY',
    ]),
  );
  assert.deepEqual(
    de.map((ap) => [ap.inUse, ap.ssid]),
    [
      [true, 'Stationsnetz'],
      [false, 'Gast'],
    ],
  );
});

test('bands and channels', () => {
  assert.deepEqual([bandOf(2412), channelOf(2412)], ['2.4 GHz', 1]);
  assert.deepEqual([bandOf(2484), channelOf(2484)], ['2.4 GHz', 14]);
  assert.deepEqual([bandOf(5180), channelOf(5180)], ['5 GHz', 36]);
  assert.deepEqual([bandOf(5825), channelOf(5825)], ['5 GHz', 165]);
  assert.deepEqual([bandOf(6595), channelOf(6595)], ['6 GHz', 129]);
  assert.deepEqual([bandOf(60480), channelOf(60480)], [undefined, undefined]);
});
