import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppPushManager } from '../../src/sdk/manager.js';
import { FilePreferencesStore, MemoryPreferencesStore, parsePreferences } from '../../src/sdk/preferences.js';
import { AppPushErrorCode, isAppPushError } from '../../src/sdk/errors.js';

const isCode = (code: number) => (e: unknown) => isAppPushError(e, code as never);

async function tempPrefs(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'lp-prefs-')), 'prefs.json');
}

test('setters validate: SSIDs, LTE and JSON-only providerConfiguration', () => {
  const m = new AppPushManager(new MemoryPreferencesStore());
  assert.throws(() => (m.matchSSIDs = ['']), isCode(AppPushErrorCode.configurationInvalid));
  assert.throws(() => (m.matchSSIDs = Array.from({ length: 11 }, (_, i) => `n${i}`)), /at most 10/);
  assert.throws(
    () => (m.matchPrivateLTENetworks = [{ mobileCountryCode: '1', mobileNetworkCode: '01' }]),
    isCode(AppPushErrorCode.configurationInvalid),
  );
  for (const bad of [{ f: () => 1 }, { u: undefined }, { n: NaN }, { d: new Date() }]) {
    assert.throws(
      () => (m.providerConfiguration = bad as never),
      isCode(AppPushErrorCode.configurationInvalid),
    );
  }
  const cyc: Record<string, unknown> = { a: 1 };
  cyc.me = cyc;
  assert.throws(() => (m.providerConfiguration = cyc as never), /cycle/);
  const cfg = { host: 'push.lan', nested: { list: [1, 2] } };
  m.providerConfiguration = cfg;
  cfg.nested.list.push(3);
  assert.deepEqual(m.providerConfiguration, { host: 'push.lan', nested: { list: [1, 2] } }, 'stored a copy');
  assert.ok(Object.isFrozen(m.providerConfiguration));
});

test('save requires providerBundleIdentifier; round-trips through loadAllFromPreferences', async () => {
  const store = new MemoryPreferencesStore();
  const m = new AppPushManager(store);
  m.matchSSIDs = ['lab'];
  m.isEnabled = true;
  await assert.rejects(m.saveToPreferences(), isCode(AppPushErrorCode.configurationInvalid));
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.localizedDescription = 'Kiosk';
  m.providerConfiguration = { host: 'push.lan' };
  m.matchPrivateLTENetworks = [{ mobileCountryCode: '001', mobileNetworkCode: '01', trackingAreaCode: '7' }];
  await m.saveToPreferences();
  assert.ok(m.configurationId);
  const [loaded, ...rest] = await AppPushManager.loadAllFromPreferences(store);
  assert.equal(rest.length, 0);
  assert.ok(loaded);
  assert.equal(loaded.configurationId, m.configurationId);
  assert.deepEqual(loaded.matchSSIDs, ['lab']);
  assert.deepEqual(loaded.providerConfiguration, { host: 'push.lan' });
  assert.deepEqual(loaded.matchPrivateLTENetworks, m.matchPrivateLTENetworks);
  assert.equal(loaded.localizedDescription, 'Kiosk');
  assert.equal(loaded.isEnabled, true);
  assert.equal(loaded.isActive, false);
});

test('a configuration that matches no network is saved disabled', async () => {
  const m = new AppPushManager(new MemoryPreferencesStore());
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.isEnabled = true;
  await m.saveToPreferences();
  assert.equal(m.isEnabled, false);
  m.matchEthernet = true;
  m.isEnabled = true;
  await m.saveToPreferences();
  assert.equal(m.isEnabled, true, 'Ethernet alone is a network');
});

test('saving an enabled configuration disables overlapping ones of the same app only', async () => {
  const store = new MemoryPreferencesStore();
  const make = async (bundle: string, ssids: string[]): Promise<AppPushManager> => {
    const m = new AppPushManager(store);
    m.providerBundleIdentifier = bundle;
    m.matchSSIDs = ssids;
    m.isEnabled = true;
    await m.saveToPreferences();
    return m;
  };
  const a = await make('com.acme.kiosk.push', ['lab', 'office']);
  const other = await make('org.other.push', ['lab']);
  const b = await make('com.acme.kiosk.voip', ['office']);
  const c = await make('com.acme.kiosk.push2', ['warehouse']);
  await a.loadFromPreferences();
  await other.loadFromPreferences();
  await c.loadFromPreferences();
  assert.equal(a.isEnabled, false, 'same app (com.acme.kiosk), shared SSID office');
  assert.equal(b.isEnabled, true);
  assert.equal(other.isEnabled, true, 'another app keeps running');
  assert.equal(c.isEnabled, true, 'same app, no shared SSID');
});

test('loadFromPreferences and removeFromPreferences report configurationNotLoaded', async () => {
  const store = new MemoryPreferencesStore();
  const m = new AppPushManager(store);
  await m.loadFromPreferences(); // never saved: a no-op, as on iOS
  await assert.rejects(m.removeFromPreferences(), isCode(AppPushErrorCode.configurationNotLoaded));
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  await m.saveToPreferences();
  const [copy] = await AppPushManager.loadAllFromPreferences(store);
  await m.removeFromPreferences();
  assert.equal((await store.read()).configurations.length, 0);
  await assert.rejects(copy!.loadFromPreferences(), isCode(AppPushErrorCode.configurationNotLoaded));
  await assert.rejects(copy!.removeFromPreferences(), isCode(AppPushErrorCode.configurationNotLoaded));
});

test('file store: survives a restart and keeps the providers registry across saves', async () => {
  const path = await tempPrefs();
  await writeFile(
    path,
    JSON.stringify({
      version: 1,
      configurations: [],
      providers: { 'com.acme.kiosk.push': { module: './p.js' } },
    }),
  );
  const m = new AppPushManager(new FilePreferencesStore(path));
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.matchSSIDs = ['lab'];
  m.isEnabled = true;
  await m.saveToPreferences();
  // "Restart": a new store object over the same file.
  const [again] = await AppPushManager.loadAllFromPreferences(new FilePreferencesStore(path));
  assert.equal(again?.configurationId, m.configurationId);
  const doc = parsePreferences(await readFile(path, 'utf8'));
  assert.deepEqual(doc.providers, { 'com.acme.kiosk.push': { module: './p.js' } });
  assert.deepEqual(await readdir(join(path, '..')), ['prefs.json'], 'no temp file left behind');
});

test('file store: a crash before the rename leaves the previous document', async () => {
  const path = await tempPrefs();
  const store = new FilePreferencesStore(path);
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.providerConfiguration = { generation: 1 };
  await m.saveToPreferences();

  // 1. The writer dies after writing the temp file (the hook throws where a crash would stop it).
  const crashing = new FilePreferencesStore(path, {
    beforeRename: () => {
      throw new Error('simulated crash');
    },
  });
  const [m2] = await AppPushManager.loadAllFromPreferences(crashing);
  m2!.providerConfiguration = { generation: 2 };
  await assert.rejects(
    m2!.saveToPreferences(),
    (e: unknown) =>
      isAppPushError(e, AppPushErrorCode.internalError) && /simulated crash/.test(String((e as Error).cause)),
  );

  // 2. A torn temp file from a killed process next to the real one.
  await writeFile(
    join(path, '..', `.prefs.json.tmp-99999-deadbeef`),
    '{"version":1,"configurations":[{"id":',
  );

  const [reloaded] = await AppPushManager.loadAllFromPreferences(new FilePreferencesStore(path));
  assert.deepEqual(reloaded?.providerConfiguration, { generation: 1 });
  // And the store still writes fine afterwards.
  reloaded.providerConfiguration = { generation: 3 };
  await reloaded.saveToPreferences();
  const [after] = await AppPushManager.loadAllFromPreferences(new FilePreferencesStore(path));
  assert.deepEqual(after?.providerConfiguration, { generation: 3 });
});

test('file store: SIGKILL in the middle of a save loop never corrupts the file', async () => {
  const path = await tempPrefs();
  const m = new AppPushManager(new FilePreferencesStore(path));
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.providerConfiguration = { generation: 0 };
  await m.saveToPreferences();

  const script = fileURLToPath(new URL('./fixtures/save-loop.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let last = 0;
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`save loop exited early (${code})`)));
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = chunk.toString().trim().split('\n');
      last = Number(lines[lines.length - 1]);
      // Kill at an arbitrary point of a later write: the loop keeps writing while the signal travels.
      if (last >= 25) resolve();
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;

  const [survivor] = await AppPushManager.loadAllFromPreferences(new FilePreferencesStore(path));
  const gen = survivor?.providerConfiguration.generation;
  assert.equal(typeof gen, 'number');
  assert.ok(
    (gen as number) >= last,
    `generation ${JSON.stringify(gen)} is at least the last acknowledged ${last}`,
  );
});
