import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ManualClock } from '@localpush/protocol';
import { runAgent } from '../../src/sdk/agent.js';
import { AppPushManager } from '../../src/sdk/manager.js';
import { FilePreferencesStore } from '../../src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { StopReason } from '../../src/sdk/provider.js';
import { moduleSpecifier } from '../../src/sdk/registry.js';
import { next, pumpUntil } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/scriptable-provider.ts', import.meta.url));

test('module specifiers: URLs, absolute and prefs-relative paths, packages', () => {
  assert.equal(moduleSpecifier('file:///x/p.js'), 'file:///x/p.js');
  assert.equal(moduleSpecifier('/x/p.js'), pathToFileURL('/x/p.js').href);
  assert.equal(moduleSpecifier('./p.js', '/etc/localpush'), pathToFileURL('/etc/localpush/p.js').href);
  assert.equal(moduleSpecifier('@acme/push-provider'), '@acme/push-provider');
});

test('agent: runs providers from the preferences file in workers and follows edits of the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lp-agent-'));
  const path = join(dir, 'preferences.json');
  // The registry lives in the file, as an operator would write it for `localpush agent`.
  await writeFile(
    path,
    JSON.stringify({
      version: 1,
      configurations: [],
      providers: { 'com.acme.kiosk.push': { module: FIXTURE } },
    }),
  );
  const app = new AppPushManager(new FilePreferencesStore(path));
  app.providerBundleIdentifier = 'com.acme.kiosk.push';
  app.matchSSIDs = ['lab'];
  app.providerConfiguration = { behavior: 'call-on-start' };
  app.isEnabled = true;
  await app.saveToPreferences();

  const clock = new ManualClock();
  const monitor = new ScriptedNetworkMonitor({ ssid: 'lab', ethernet: false });
  const lines: string[] = [];
  const agent = await runAgent({
    preferencesPath: path,
    clock,
    monitor,
    log: (_l, m) => lines.push(m),
    reloadIntervalMs: 1000,
  });
  const [id, userInfo] = await next(agent.host, 'incomingCall');
  assert.equal(id, app.configurationId);
  assert.deepEqual(userInfo, { caller: 'alice', handle: '+1 555 0100' });
  await agent.host.idle();
  assert.equal(agent.host.isActive(app.configurationId ?? ''), true);

  // Another process (here: another store object) disables the configuration; the agent notices the file.
  app.isEnabled = false;
  const stopped = next(agent.host, 'stopped');
  await app.saveToPreferences();
  const [, reason] = await pumpUntil(stopped, clock, 1000);
  assert.equal(reason, StopReason.configurationDisabled);

  await agent.stop();
  assert.ok(lines.includes('agent started') && lines.includes('agent stopped'));
  assert.equal(clock.pending, 0, 'no timers left behind');
});
