import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@localpush/protocol';
import {
  ethernetFromSysfs,
  parseIpconfigSummary,
  parseIwDev,
  parseNetshInterfaces,
  parseNetshWlan,
  parseNetworksetupAirport,
  parseNmcliEthernet,
  parseNmcliWifi,
  splitNmcliTerse,
} from '../../src/sdk/network-parsers.js';
import { PollingNetworkMonitor, ScriptedNetworkMonitor, readSysNet } from '../../src/sdk/network.js';
import type { NetworkState } from '../../src/sdk/configuration.js';
import { next } from './helpers.js';

// Captured with `LC_ALL=C nmcli -t -f active,ssid dev wifi` on NetworkManager 1.42.
const NMCLI_WIFI = `no:Neighbours 5G
yes:Lab\\: floor 2
no:
no:Guest
`;

test('nmcli terse output: escapes and the active network', () => {
  assert.deepEqual(splitNmcliTerse('yes:a\\:b\\\\c'), ['yes', 'a:b\\c']);
  assert.equal(parseNmcliWifi(NMCLI_WIFI), 'Lab: floor 2');
  assert.equal(parseNmcliWifi('no:Guest\nno:Other\n'), undefined);
  assert.equal(parseNmcliWifi(''), undefined);
  // `nmcli -t -f type,state dev`
  const dev = 'wifi:connected\nethernet:unavailable\nloopback:connected (externally)\n';
  assert.equal(parseNmcliEthernet(dev), false);
  assert.equal(parseNmcliEthernet('ethernet:connected\nwifi:disconnected\n'), true);
});

// Captured `iw dev` (iw 5.19).
const IW_DEV = `phy#0
\tInterface wlp2s0
\t\tifindex 3
\t\twdev 0x1
\t\taddr 3c:a9:f4:00:11:22
\t\tssid Kiosk Net
\t\ttype managed
\t\tchannel 36 (5180 MHz), width: 80 MHz, center1: 5210 MHz
\t\ttxpower 22.00 dBm
`;

test('iw dev: ssid line', () => {
  assert.equal(parseIwDev(IW_DEV), 'Kiosk Net');
  assert.equal(parseIwDev('phy#0\n\tInterface wlan0\n\t\ttype managed\n'), undefined);
});

test('sysfs: only physical, wired interfaces with carrier count as Ethernet', async () => {
  assert.equal(
    ethernetFromSysfs([
      { name: 'lo', carrier: '1\n', wireless: false, physical: false },
      { name: 'docker0', carrier: '1\n', wireless: false, physical: false },
      { name: 'wlp2s0', carrier: '1\n', wireless: true, physical: true },
      { name: 'enp3s0', carrier: '0\n', wireless: false, physical: true },
    ]),
    false,
  );
  assert.equal(
    ethernetFromSysfs([{ name: 'enp3s0', carrier: '1\n', wireless: false, physical: true }]),
    true,
  );
  // The same, read from a fake /sys/class/net tree.
  const root = await mkdtemp(join(tmpdir(), 'lp-sys-'));
  const iface = async (name: string, carrier: string | undefined, extra: string[]): Promise<void> => {
    await mkdir(join(root, name));
    if (carrier !== undefined) await writeFile(join(root, name, 'carrier'), carrier);
    for (const d of extra) await mkdir(join(root, name, d));
  };
  await iface('lo', '1\n', []);
  await iface('wlan0', '1\n', ['device', 'wireless']);
  await iface('eth0', '1\n', ['device']);
  await iface('eth1', undefined, ['device']);
  const read = await readSysNet(root);
  assert.equal(read.length, 4);
  assert.equal(ethernetFromSysfs(read), true);
  assert.deepEqual(
    read.find((i) => i.name === 'wlan0'),
    { name: 'wlan0', carrier: '1\n', wireless: true, physical: true },
  );
});

test('macOS: networksetup and ipconfig getsummary', () => {
  assert.equal(parseNetworksetupAirport('Current Wi-Fi Network: Lab Wi-Fi\n'), 'Lab Wi-Fi');
  assert.equal(parseNetworksetupAirport('You are not associated with an AirPort network.\n'), undefined);
  const summary = `<dictionary> {
  BSSID : 12:34:56:78:9a:bc
  InterfaceType : WiFi
  LinkStatusActive : TRUE
  NetworkID : 4F2B6E3C-1D2A-4E5F-8A9B-0C1D2E3F4A5B
  SSID : Lab Wi-Fi
  Security : WPA2_PSK
}
`;
  assert.equal(parseIpconfigSummary(summary), 'Lab Wi-Fi');
  assert.equal(parseIpconfigSummary(summary.replace('SSID : Lab Wi-Fi', 'SSID : <redacted>')), undefined);
  assert.equal(
    parseIpconfigSummary('<dictionary> {\n  InterfaceType : WiFi\n  LinkStatusActive : FALSE\n}\n'),
    undefined,
  );
});

// Captured `netsh wlan show interfaces` (Windows 11 23H2, en-US), CRLF line ends.
const NETSH_WLAN = [
  '',
  'There is 1 interface on the system:',
  '',
  '    Name                   : Wi-Fi',
  '    Description            : Intel(R) Wi-Fi 6 AX201 160MHz',
  '    GUID                   : 5b3f6c2e-1111-2222-3333-444455556666',
  '    Physical address       : 3c:a9:f4:00:11:22',
  '    Interface type         : Primary',
  '    State                  : connected',
  '    SSID                   : Lab Wi-Fi',
  '    BSSID                  : 12:34:56:78:9a:bc',
  '    Network type           : Infrastructure',
  '    Radio type             : 802.11ax',
  '    Authentication         : WPA2-Personal',
  '    Channel                : 36',
  '    Signal                 : 92%',
  '',
  '    Hosted network status  : Not available',
  '',
].join('\r\n');

test('Windows: netsh wlan and netsh interface', () => {
  assert.equal(parseNetshWlan(NETSH_WLAN), 'Lab Wi-Fi');
  assert.equal(
    parseNetshWlan(
      NETSH_WLAN.replace('State                  : connected', 'State                  : disconnected'),
    ),
    undefined,
  );
  const ifaces = [
    '',
    'Admin State    State          Type             Interface Name',
    '-------------------------------------------------------------------------',
    'Enabled        Connected      Dedicated        Wi-Fi',
    'Enabled        Connected      Dedicated        Ethernet 2',
    'Enabled        Disconnected   Dedicated        Ethernet',
    '',
  ].join('\r\n');
  assert.equal(parseNetshInterfaces(ifaces), true);
  assert.equal(
    parseNetshInterfaces(
      ifaces.replace(
        'Connected      Dedicated        Ethernet 2',
        'Disconnected   Dedicated        Ethernet 2',
      ),
    ),
    false,
  );
});

test('PollingNetworkMonitor polls through the clock and reports only changes', async () => {
  const clock = new ManualClock();
  const answers: NetworkState[] = [
    { ethernet: false },
    { ssid: 'lab', ethernet: false },
    { ssid: 'lab', ethernet: false },
  ];
  let calls = 0;
  const monitor = new PollingNetworkMonitor({
    clock,
    intervalMs: 1000,
    probe: () => {
      const a = answers[Math.min(calls, answers.length - 1)] ?? { ethernet: false };
      calls++;
      return calls === 4 ? Promise.reject(new Error('tool vanished')) : Promise.resolve(a);
    },
  });
  const changes: NetworkState[] = [];
  monitor.on('change', (s: NetworkState) => changes.push(s));
  await monitor.start();
  assert.equal(calls, 1);
  const changed = next(monitor, 'change');
  clock.advance(1000);
  await changed;
  assert.deepEqual(monitor.current(), { ssid: 'lab', ethernet: false });
  clock.advance(1000); // same answer: no event
  await new Promise<void>((r) => setImmediate(r));
  clock.advance(1000); // probe fails: keeps the last state
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(calls, 4);
  assert.equal(changes.length, 1);
  assert.deepEqual(monitor.current(), { ssid: 'lab', ethernet: false });
  monitor.stop();
  assert.equal(clock.pending, 0);
});

test('ScriptedNetworkMonitor emits on real changes only', () => {
  const m = new ScriptedNetworkMonitor();
  let n = 0;
  m.on('change', () => n++);
  m.joinWifi('lab');
  m.joinWifi('lab');
  m.set({ ssid: 'lab', ethernet: true });
  m.leaveWifi();
  assert.equal(n, 3);
  assert.deepEqual(m.current(), { ethernet: true });
});
