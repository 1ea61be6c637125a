import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '@localpush/protocol';
import type { JsonObject } from '../../src/sdk/json.js';
import { AppPushManager } from '../../src/sdk/manager.js';
import { MemoryPreferencesStore } from '../../src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { ProviderHost, type ProviderHostOptions } from '../../src/sdk/host.js';
import { LocalPushProvider } from '../../src/sdk/local-provider.js';
import { StopReason } from '../../src/sdk/provider.js';
import type { ProviderRegistry } from '../../src/sdk/registry.js';
import ScriptableProvider from './fixtures/scriptable-provider.js';
import { RecordingNotifier, config, connectionRecorder, next } from './helpers.js';

const BUNDLE = 'com.acme.kiosk.push';

async function savedManager(
  store: MemoryPreferencesStore,
  overrides: Partial<AppPushManager> = {},
): Promise<AppPushManager> {
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = BUNDLE;
  m.matchSSIDs = ['lab'];
  m.providerConfiguration = { url: 'tls://push.lan:5223', deviceId: 'kiosk-1', credential: 'secret' };
  m.isEnabled = true;
  Object.assign(m, overrides);
  await m.saveToPreferences();
  return m;
}

function setup(registry: ProviderRegistry, extra: Partial<ProviderHostOptions> = {}) {
  const clock = new ManualClock();
  const store = new MemoryPreferencesStore();
  const monitor = new ScriptedNetworkMonitor();
  // random 1: the relaunch back-off's full jitter pinned to the top of its window, so delays are exact.
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    isolation: 'in-process',
    registry,
    random: () => 1,
    ...extra,
  });
  return { clock, store, monitor, host };
}

test('life cycle: join → start → pushes → silent connection replaced on the timer → leave → stop(3) → rejoin', async () => {
  const rec = connectionRecorder();
  const notifier = new RecordingNotifier();
  const { clock, store, monitor, host } = setup({
    [BUNDLE]: { create: () => new LocalPushProvider({ connect: rec.connect, notifier }) },
  });
  const manager = await savedManager(store);
  const calls: JsonObject[] = [];
  manager.delegate = { appPushManagerDidReceiveIncomingCall: (_m, u) => calls.push(u) };
  const ptt: JsonObject[] = [];
  manager.on('pushToTalk', (u: JsonObject) => ptt.push(u));
  const active: boolean[] = [];
  manager.on('activeChange', (a: boolean) => active.push(a));

  await host.start();
  host.attach(manager);
  await host.idle();
  assert.equal(rec.connections.length, 0, 'not on a matching network yet');

  monitor.joinWifi('guest');
  await host.idle();
  assert.equal(rec.connections.length, 0);

  const started = next(host, 'started');
  monitor.joinWifi('lab');
  assert.deepEqual(await started, [manager.configurationId]);
  assert.equal(manager.isActive, true);
  const conn = rec.connections[0];
  assert.ok(conn?.started);
  assert.deepEqual(
    { url: conn.options.url, deviceId: conn.options.deviceId, credential: conn.options.credential },
    { url: 'tls://push.lan:5223', deviceId: 'kiosk-1', credential: 'secret' },
  );

  await conn.deliver({ kind: 'alert', payload: { title: 'Door', body: 'Front door opened' } });
  await conn.deliver({ kind: 'message', payload: 'Lunch is ready' });
  await conn.deliver({ kind: 'call', payload: { caller: 'alice' }, id: 'call-1' });
  await conn.deliver({ kind: 'push-to-talk', payload: { channel: 'ops' }, id: 'ptt-1' });
  await conn.deliver({ kind: 'alert', payload: 'too late', expiration: clock.now() / 1000 - 1 });
  assert.deepEqual(
    notifier.shown.map((n) => [n.title, n.body]),
    [
      ['Door', 'Front door opened'],
      ['localpush', 'Lunch is ready'],
    ],
  );
  assert.deepEqual(calls, [{ caller: 'alice', pushId: 'call-1' }]);
  assert.deepEqual(ptt, [{ channel: 'ops', pushId: 'ptt-1' }]);

  // A healthy connection is left alone by the timer…
  clock.advance(60_000);
  assert.equal(conn.reconnects, 0);
  // …a silent one is replaced at the next timer event.
  conn.stale = true;
  const timer = next(host, 'timer');
  clock.advance(60_000);
  await timer;
  assert.equal(conn.reconnects, 1);

  const stopped = next(host, 'stopped');
  monitor.leaveWifi();
  assert.deepEqual(await stopped, [manager.configurationId, StopReason.noNetworkAvailable]);
  assert.equal(conn.stopped, true);
  assert.equal(manager.isActive, false);
  clock.advance(120_000);
  assert.equal(conn.reconnects, 1, 'no timer events while stopped');

  const restarted = next(host, 'started');
  monitor.joinWifi('lab');
  await restarted;
  assert.equal(rec.connections.length, 2);
  assert.notEqual(rec.connections[1], conn);
  assert.deepEqual(active, [true, false, true]);
  assert.deepEqual(host.instanceCounts, { live: 1, maxLive: 1 });

  await host.stop();
  assert.equal(rec.connections[1]?.stopped, true);
  assert.equal(manager.isActive, false);
});

test('racing network events never produce a second live instance', async () => {
  const rec = connectionRecorder();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { store, monitor, host } = setup({
    [BUNDLE]: {
      create: () =>
        new LocalPushProvider({
          connect: (o) => {
            const c = rec.connect(o);
            c.gate = gate; // every start hangs until released
            return c;
          },
          notifier: new RecordingNotifier(),
        }),
    },
  });
  await savedManager(store);
  await host.start();
  for (let i = 0; i < 20; i++) {
    monitor.joinWifi('lab');
    monitor.leaveWifi();
    monitor.set({ ssid: 'lab', ethernet: i % 2 === 0 });
  }
  release();
  await host.idle();
  assert.deepEqual(host.instanceCounts, { live: 1, maxLive: 1 });
  const open = rec.connections.filter((c) => !c.stopped);
  assert.equal(open.length, 1, 'exactly one connection left open');
  await host.stop();
  assert.equal(rec.connections.filter((c) => !c.stopped).length, 0);
});

test('a provider that throws is relaunched with back-off; a failed start backs off exponentially', async () => {
  const { clock, store, monitor, host } = setup(
    { [BUNDLE]: { create: () => new ScriptableProvider() } },
    { backoff: { initialMs: 1000, maxMs: 4000 } },
  );
  await savedManager(store, {
    providerConfiguration: { behavior: 'throw-on-timer' },
  });
  await host.start();
  monitor.joinWifi('lab');
  await next(host, 'started');

  const crashed = next(host, 'crashed');
  const scheduled = next(host, 'relaunchScheduled');
  clock.advance(60_000);
  const [, err, kind] = await crashed;
  assert.match((err as Error).message, /scripted timer crash/);
  assert.equal(kind, 'exception');
  assert.equal((await scheduled)[1], 1000);
  assert.equal(host.isActive(config().id) || false, false);
  const relaunched = next(host, 'started');
  clock.advance(1000);
  await relaunched;
  assert.deepEqual(host.instanceCounts, { live: 1, maxLive: 1 });
  await host.stop();

  // Failed starts: 1 s, 2 s, 4 s, 4 s (capped).
  const s2 = setup(
    { [BUNDLE]: { create: () => new ScriptableProvider() } },
    { backoff: { initialMs: 1000, maxMs: 4000 } },
  );
  await savedManager(s2.store, {
    providerConfiguration: { behavior: 'fail-start' },
  });
  const delays: number[] = [];
  s2.host.on('relaunchScheduled', (_id: string, d: number) => delays.push(d));
  await s2.host.start();
  s2.monitor.joinWifi('lab');
  await s2.host.idle();
  for (const d of [1000, 2000, 4000]) {
    s2.clock.advance(d);
    await s2.host.idle();
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 4000]);
  // Leaving the network cancels the pending relaunch.
  s2.monitor.leaveWifi();
  await s2.host.idle();
  assert.equal(s2.clock.pending, 0);
  await s2.host.stop();
});

test('configuration changes reach the running provider; disable and remove stop it with their reasons', async () => {
  const rec = connectionRecorder();
  const { store, monitor, host } = setup({
    [BUNDLE]: {
      create: () => new LocalPushProvider({ connect: rec.connect, notifier: new RecordingNotifier() }),
    },
  });
  const manager = await savedManager(store);
  await host.start();
  monitor.joinWifi('lab');
  await next(host, 'started');

  manager.providerConfiguration = { url: 'tls://push2.lan:5223', deviceId: 'kiosk-1', credential: 'secret' };
  await manager.saveToPreferences();
  await host.idle();
  for (let i = 0; i < 10 && rec.connections.length < 2; i++) await new Promise<void>((r) => setImmediate(r));
  assert.equal(rec.connections.length, 2, 'the provider reconnected to the new URL');
  assert.equal(rec.connections[0]?.stopped, true);
  assert.equal(rec.connections[1]?.options.url, 'tls://push2.lan:5223');

  let stopped = next(host, 'stopped');
  manager.isEnabled = false;
  await manager.saveToPreferences();
  assert.equal((await stopped)[1], StopReason.configurationDisabled);

  manager.isEnabled = true;
  await manager.saveToPreferences();
  await next(host, 'started');
  stopped = next(host, 'stopped');
  await manager.removeFromPreferences();
  assert.equal((await stopped)[1], StopReason.configurationRemoved);
  await host.idle();
  assert.deepEqual(host.instanceCounts, { live: 0, maxLive: 1 });
  await host.stop();
});

test('Ethernet: matchEthernet launches; unmatchEthernet() stops until the link comes back', async () => {
  const { monitor, store, host } = setup({ [BUNDLE]: { create: () => new ScriptableProvider() } });
  await savedManager(store, {
    matchEthernet: true,
    providerConfiguration: { behavior: 'unmatch-ethernet' },
  });
  await host.start();
  const stopped = next(host, 'stopped');
  monitor.set({ ethernet: true });
  await next(host, 'started');
  assert.equal((await stopped)[1], StopReason.noNetworkAvailable);
  await host.idle();
  assert.equal(host.instanceCounts.live, 0);
  monitor.set({ ethernet: false });
  const again = next(host, 'started');
  monitor.set({ ethernet: true });
  await again;
  await host.stop();
});

test('an unknown providerBundleIdentifier is a failed start, not a crash of the host', async () => {
  const { monitor, store, host } = setup({});
  await savedManager(store, { providerBundleIdentifier: 'com.nobody.push' });
  await host.start();
  const failed = next(host, 'startFailed');
  monitor.joinWifi('lab');
  assert.match(((await failed)[1] as Error).message, /unknown providerBundleIdentifier/);
  await host.stop();
});
