/**
 * One set of rules for writing and reading preferences: saveToPreferences refuses exactly what a reader
 * would refuse, so no save can leave a file that does not load; and a file that already holds a bad
 * record (edited by hand, written by an older version) still yields its good configurations, with the
 * bad one reported and kept as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ManualClock } from '@localpush/protocol';
import { AppPushManager } from '../../src/sdk/manager.js';
import {
  FilePreferencesStore,
  MemoryPreferencesStore,
  parsePreferences,
  type PreferencesStore,
  type RejectedRecord,
} from '../../src/sdk/preferences.js';
import { AppPushErrorCode, isAppPushError } from '../../src/sdk/errors.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { ProviderHost } from '../../src/sdk/host.js';
import ScriptableProvider from './fixtures/scriptable-provider.js';
import { config, next } from './helpers.js';

const BUNDLE = 'com.acme.kiosk.push';
const invalid = (e: unknown): boolean => isAppPushError(e, AppPushErrorCode.configurationInvalid);

async function tempPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'lp-prefs-rules-')), 'prefs.json');
}

function manager(store: PreferencesStore, ssid: string): AppPushManager {
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = BUNDLE;
  m.matchSSIDs = [ssid];
  m.isEnabled = true;
  return m;
}

/** Fields JavaScript can set to anything (no setter stands in the way), and values the reader refuses. */
const BAD_ASSIGNMENTS: Array<[field: string, value: unknown]> = [
  ['matchEthernet', 'yes'],
  ['isEnabled', 'true'],
  ['localizedDescription', 42],
  ['providerBundleIdentifier', 42],
  ['providerBundleIdentifier', '  '],
];

for (const [kind, open] of [
  ['file', async () => new FilePreferencesStore(await tempPath())],
  ['memory', () => Promise.resolve(new MemoryPreferencesStore())],
] as const) {
  test(`${kind} store: a save the reader would refuse is refused, and the store still loads`, async () => {
    const store: PreferencesStore = await open();
    const good = manager(store, 'ward-1');
    await good.saveToPreferences();
    for (const [field, value] of BAD_ASSIGNMENTS) {
      const bad = manager(store, 'ward-2');
      (bad as unknown as Record<string, unknown>)[field] = value;
      await assert.rejects(bad.saveToPreferences(), invalid, `${field} = ${JSON.stringify(value)}`);
      assert.equal(bad.configurationId, undefined, 'an unsaved manager stays unsaved');
      const all = await AppPushManager.loadAllFromPreferences(store);
      assert.deepEqual(
        all.map((m) => m.configurationId),
        [good.configurationId],
        `after ${field} = ${JSON.stringify(value)} the store holds the good configuration alone`,
      );
    }
    // An already saved configuration cannot be spoilt either.
    (good as unknown as Record<string, unknown>).matchEthernet = 'yes';
    await assert.rejects(good.saveToPreferences(), invalid);
    const [reloaded] = await AppPushManager.loadAllFromPreferences(store);
    assert.equal(reloaded?.matchEthernet, false);
  });
}

test('file store: a file with one bad record yields its good ones; the bad one is reported and kept', async () => {
  const path = await tempPath();
  const bad = { ...config({ id: 'cfg-bad', matchSSIDs: ['ward-2'] }), matchEthernet: 'yes' };
  await writeFile(
    path,
    JSON.stringify({
      version: 1,
      configurations: [
        config({ id: 'cfg-a', matchSSIDs: ['ward-1'] }),
        bad,
        config({ id: 'cfg-a', matchSSIDs: ['ward-3'] }), // a second record with the same id
        config({ id: 'cfg-c', providerBundleIdentifier: 'org.other.push', matchSSIDs: ['ward-4'] }),
      ],
      providers: { [BUNDLE]: { module: './p.js' }, 'org.broken.push': { export: 'X' } },
    }),
  );
  const store = new FilePreferencesStore(path);
  const managers = await AppPushManager.loadAllFromPreferences(store);
  assert.deepEqual(
    managers.map((m) => m.configurationId),
    ['cfg-a', 'cfg-c'],
  );
  const doc = await store.read();
  assert.deepEqual(doc.providers, { [BUNDLE]: { module: './p.js' } });
  assert.deepEqual(
    doc.rejected?.map((r) => [r.section, r.key, r.id, r.code]),
    [
      ['configurations', 1, 'cfg-bad', 'LP_APPPUSH_CONFIGURATION_INVALID'],
      ['configurations', 2, 'cfg-a', 'LP_APPPUSH_CONFIGURATION_INVALID'],
      ['providers', 'org.broken.push', undefined, 'LP_APPPUSH_CONFIGURATION_INVALID'],
    ],
  );
  assert.match(
    doc.rejected?.[0]?.message ?? '',
    /configurations\[1\] \(cfg-bad\): matchEthernet must be a boolean/,
  );
  assert.match(doc.rejected?.[1]?.message ?? '', /already has this id/);
  assert.match(doc.rejected?.[2]?.message ?? '', /providers\.org\.broken\.push: module/);

  // Saving another configuration writes the bad record back exactly as it was.
  const c = managers[1]!;
  c.localizedDescription = 'renamed';
  await c.saveToPreferences();
  const raw = JSON.parse(await readFile(path, 'utf8')) as {
    configurations: unknown[];
    providers: Record<string, unknown>;
  };
  assert.ok(
    raw.configurations.some((r) => JSON.stringify(r) === JSON.stringify(bad)),
    'kept verbatim',
  );
  assert.deepEqual(raw.providers['org.broken.push'], { export: 'X' });
  assert.equal(parsePreferences(JSON.stringify(raw)).rejected?.length, 2, 'the duplicate id gave way');

  // Someone breaks cfg-c by hand: its manager hears why on load, rather than "not saved".
  const edited = raw.configurations.map((r) =>
    (r as { id?: string }).id === 'cfg-c' ? { ...(r as object), matchEthernet: 1 } : r,
  );
  await writeFile(path, JSON.stringify({ ...raw, configurations: edited }));
  await assert.rejects(
    c.loadFromPreferences(),
    (e: unknown) => invalid(e) && /matchEthernet/.test(String(e)),
  );
  // And a valid save over its id replaces the broken record.
  c.matchEthernet = true;
  await c.saveToPreferences();
  assert.deepEqual(
    (await store.read()).rejected?.map((r) => r.id),
    ['cfg-bad', undefined],
  );
  await c.loadFromPreferences();
});

test('host: a bad record is reported once as configurationRejected and the good ones run', async () => {
  const bad = { ...config({ id: 'cfg-bad' }), isEnabled: 'true' };
  const store = new MemoryPreferencesStore({
    version: 1,
    configurations: [config({ id: 'cfg-good' }), bad as never],
  });
  const monitor = new ScriptedNetworkMonitor({ ssid: 'lab', ethernet: false });
  const host = new ProviderHost({
    store,
    monitor,
    clock: new ManualClock(),
    isolation: 'in-process',
    registry: { [config().providerBundleIdentifier]: { create: () => new ScriptableProvider() } },
  });
  const reports: Array<[Error, RejectedRecord]> = [];
  host.on('configurationRejected', (err: Error, record: RejectedRecord) => reports.push([err, record]));
  const started = next(host, 'started');
  await host.start();
  assert.deepEqual(await started, ['cfg-good']);
  assert.equal(reports.length, 1);
  const [err, record] = reports[0]!;
  assert.equal((err as { code?: string }).code, 'LP_APPPUSH_CONFIGURATION_INVALID');
  assert.match(err.message, /isEnabled must be a boolean/);
  assert.equal(record.id, 'cfg-bad');
  // Later saves re-read the store; the same bad record is not reported again.
  const [good] = await AppPushManager.loadAllFromPreferences(store);
  good!.localizedDescription = 'again';
  await good!.saveToPreferences();
  await host.idle();
  assert.equal(reports.length, 1);
  await host.stop();
});

/** Any value at all, JSON or not, for a field JavaScript lets a caller set. */
const anything = fc.oneof(
  fc.boolean(),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.constant(undefined),
  fc.constant(null),
  fc.constant(Number.NaN),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

test('property: a save succeeds exactly when the reader accepts the record it wrote', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        providerBundleIdentifier: fc.oneof(anything, fc.constantFrom('com.acme.kiosk.push', 'x')),
        matchEthernet: anything,
        isEnabled: anything,
        localizedDescription: anything,
      }),
      async (fields) => {
        const store = new MemoryPreferencesStore();
        const m = manager(store, 'lab');
        Object.assign(m, fields);
        const saved = await m.saveToPreferences().then(
          () => true,
          (e: unknown) => {
            if (!invalid(e)) throw e;
            return false;
          },
        );
        // The rules as docs/client-sdk.md states them, written out independently of the validator.
        const { providerBundleIdentifier: bundle, matchEthernet, isEnabled, localizedDescription } = fields;
        const valid =
          typeof bundle === 'string' &&
          bundle.trim() !== '' &&
          typeof matchEthernet === 'boolean' &&
          typeof isEnabled === 'boolean' &&
          typeof localizedDescription === 'string';
        assert.equal(saved, valid, JSON.stringify(fields));
        const doc = await store.read(); // never throws: nothing unreadable was written
        assert.equal(doc.rejected, undefined);
        assert.equal(doc.configurations.length, saved ? 1 : 0);
        if (saved) assert.equal(doc.configurations[0]?.localizedDescription, fields.localizedDescription);
      },
    ),
    { numRuns: 300 },
  );
});
