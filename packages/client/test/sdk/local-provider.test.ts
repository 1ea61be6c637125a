import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Push } from '@localpush/protocol';
import {
  LocalPushProvider,
  notificationFromPush,
  readLocalPushSettings,
} from '../../src/sdk/local-provider.js';
import {
  ConsoleNotifier,
  FallbackNotifier,
  NotifySendNotifier,
  createDesktopNotifier,
  type Notification,
} from '../../src/sdk/notifier.js';
import { AppPushErrorCode, isAppPushError } from '../../src/sdk/errors.js';
import { providerAttach } from '../../src/sdk/provider.js';
import { ManualClock } from '@localpush/protocol';
import { RecordingNotifier, connectionRecorder } from './helpers.js';

const push = (p: Partial<Push> & Pick<Push, 'kind' | 'payload'>): Push => ({
  type: 'push',
  id: 'm1',
  seq: 1,
  priority: 10,
  expiration: 0,
  ...p,
});

test('settings come from providerConfiguration; missing keys are configurationInvalid', () => {
  assert.deepEqual(
    readLocalPushSettings({ url: 'tls://h:1', deviceId: 'd', credential: 'c', pin: 'sha256/x' }),
    {
      url: 'tls://h:1',
      deviceId: 'd',
      credential: 'c',
      pin: 'sha256/x',
    },
  );
  for (const bad of [
    { deviceId: 'd', credential: 'c' },
    { url: 'u', deviceId: 1, credential: 'c' },
    { url: 'u', deviceId: 'd', credential: 'c', pin: 5 },
  ]) {
    assert.throws(
      () => readLocalPushSettings(bad as never),
      (e: unknown) => isAppPushError(e, AppPushErrorCode.configurationInvalid),
    );
  }
});

test('notification text from the common payload shapes', () => {
  assert.deepEqual(
    [
      notificationFromPush(push({ kind: 'alert', payload: { title: 'T', body: 'B' } })),
      notificationFromPush(push({ kind: 'alert', payload: { alert: { title: 'T2', body: 'B2' } } })),
      notificationFromPush(push({ kind: 'alert', payload: { alert: 'just text' } })),
      notificationFromPush(push({ kind: 'message', payload: 'hello' })),
      notificationFromPush(push({ kind: 'message', payload: [1, 2] })),
    ].map((n) => [n.title, n.body]),
    [
      ['T', 'B'],
      ['T2', 'B2'],
      ['localpush', 'just text'],
      ['localpush', 'hello'],
      ['localpush', '[1,2]'],
    ],
  );
  const n = notificationFromPush(push({ kind: 'alert', payload: 'x', collapseId: 'door' }));
  assert.deepEqual(n.userInfo, { id: 'm1', kind: 'alert', payload: 'x', collapseId: 'door' });
});

test('a failed start (bad configuration) rejects before any connection is opened', async () => {
  const rec = connectionRecorder();
  const p = new LocalPushProvider({ connect: rec.connect, notifier: new RecordingNotifier() });
  p[providerAttach]({
    providerConfiguration: { url: 'tls://h' },
    configurationId: 'x',
    clock: new ManualClock(),
    log: () => undefined,
    reportIncomingCall: () => undefined,
    reportPushToTalkMessage: () => undefined,
    unmatchEthernet: () => undefined,
  });
  await assert.rejects(p.start(), /deviceId/);
  assert.equal(rec.connections.length, 0);
});

test('reporting after stop is an inactiveSession error', () => {
  const p = new LocalPushProvider({ connect: connectionRecorder().connect });
  assert.throws(
    () => p.reportIncomingCall({ caller: 'x' }),
    (e: unknown) => isAppPushError(e, AppPushErrorCode.inactiveSession),
  );
});

test('notify-send gets title and body as separate arguments, never through a shell', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lp-notify-'));
  const out = join(dir, 'args.json');
  const fake = join(dir, 'notify-send');
  await writeFile(
    fake,
    `#!${process.execPath}\nrequire('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(2)));\n`,
  );
  await chmod(fake, 0o755);
  const evil = 'a"; touch /tmp/pwned; echo "$(id)';
  await new NotifySendNotifier(fake).show({ title: '-u critical', body: evil, userInfo: {} });
  assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), [
    '--app-name=localpush',
    '--',
    '-u critical',
    evil,
  ]);

  // Found on PATH by createDesktopNotifier on Linux.
  const saved = process.env.PATH;
  process.env.PATH = dir;
  try {
    const n = await createDesktopNotifier({ platform: 'linux' });
    assert.ok(n instanceof FallbackNotifier);
    const none = await createDesktopNotifier({ platform: 'freebsd' });
    assert.ok(none instanceof ConsoleNotifier);
  } finally {
    process.env.PATH = saved;
  }
});

test('the fallback notifier shows on the console when the desktop tool fails', async () => {
  const lines: string[] = [];
  const n = new FallbackNotifier(
    new NotifySendNotifier('/nonexistent/notify-send'),
    new ConsoleNotifier((l) => lines.push(l)),
  );
  const note: Notification = { title: 'Door', body: 'open', userInfo: {} };
  await n.show(note);
  assert.deepEqual(lines, ['[notification] Door: open']);
});

test('default factory: a real DeviceClient; one that never connects is replaced at the timer event', async () => {
  const clock = new ManualClock(Date.now());
  const p = new LocalPushProvider({ notifier: new RecordingNotifier() });
  p[providerAttach]({
    // Port 9 (discard) on loopback refuses at once; the pin makes it a verified-TLS configuration.
    providerConfiguration: {
      url: 'tls://127.0.0.1:9',
      deviceId: 'kiosk-1',
      credential: 'secret',
      pin: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    },
    configurationId: 'x',
    clock,
    log: () => undefined,
    reportIncomingCall: () => undefined,
    reportPushToTalkMessage: () => undefined,
    unmatchEthernet: () => undefined,
  });
  await p.start(); // resolves: isActive does not mean the server is reachable
  await p.handleTimerEvent();
  assert.equal(p.stats.reconnects, 0, 'not stale yet');
  clock.advance(10 * 60_000);
  await p.handleTimerEvent();
  assert.equal(p.stats.reconnects, 1);
  await p.stop(3);
});
