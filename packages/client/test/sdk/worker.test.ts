/**
 * The worker isolation mode for real: each provider in its own worker thread with a 24 MiB heap limit.
 * Crashes and out-of-memory kills are genuine (an uncaught exception; a provider that allocates until V8
 * gives up), and the host must relaunch in both cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '@localpush/protocol';
import type { JsonObject } from '../../src/sdk/json.js';
import { AppPushManager } from '../../src/sdk/manager.js';
import { MemoryPreferencesStore } from '../../src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { DEFAULT_MEMORY_LIMIT_MB, ProviderHost } from '../../src/sdk/host.js';
import { StopReason } from '../../src/sdk/provider.js';
import { next, pumpUntil } from './helpers.js';

const BUNDLE = 'com.acme.kiosk.push';
const FIXTURE = fileURLToPath(new URL('./fixtures/scriptable-provider.ts', import.meta.url));

async function setup(behavior: string) {
  const clock = new ManualClock();
  const store = new MemoryPreferencesStore();
  const monitor = new ScriptedNetworkMonitor();
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    isolation: 'worker',
    // The module path goes through the registry exactly as the agent's preferences file would give it.
    registry: { [BUNDLE]: { module: FIXTURE } },
    backoff: { initialMs: 500 },
    // The relaunch back-off's full jitter pinned to the top of its window, so delays are exact.
    random: () => 1,
  });
  const manager = new AppPushManager(store);
  manager.providerBundleIdentifier = BUNDLE;
  manager.matchSSIDs = ['lab'];
  manager.providerConfiguration = { behavior };
  manager.isEnabled = true;
  await manager.saveToPreferences();
  await host.start();
  host.attach(manager);
  return { clock, monitor, host, manager };
}

test('worker: reports from the provider reach the delegate via postMessage; leaving stops and ends the thread', async () => {
  const { clock, monitor, host, manager } = await setup('call-on-start');
  const calls: JsonObject[] = [];
  const ptt: JsonObject[] = [];
  manager.delegate = { appPushManagerDidReceiveIncomingCall: (_m, u) => calls.push(u) };
  manager.on('pushToTalk', (u: JsonObject) => ptt.push(u));
  const firstCall = next(manager, 'incomingCall');
  const started = next(host, 'started');
  monitor.joinWifi('lab');
  await started;
  await firstCall;
  assert.deepEqual(calls, [{ caller: 'alice', handle: '+1 555 0100' }]);
  assert.deepEqual(ptt, [{ channel: 'ops' }]);
  assert.equal(manager.isActive, true);

  // The host's clock drives the worker's timer events.
  const timerCall = next(manager, 'incomingCall');
  clock.advance(60_000);
  assert.deepEqual((await timerCall)[0], { timer: true });

  const stopped = next(host, 'stopped');
  monitor.leaveWifi();
  assert.equal((await stopped)[1], StopReason.noNetworkAvailable);
  assert.deepEqual(host.instanceCounts, { live: 0, maxLive: 1 });
  assert.equal(manager.isActive, false);
  await host.stop();
});

test('worker: an uncaught exception in the provider is a crash and the provider is relaunched', async () => {
  const { clock, monitor, host } = await setup('throw-later');
  monitor.joinWifi('lab');
  const [, err, kind] = await next(host, 'crashed');
  assert.equal(kind, 'exception');
  assert.match((err as Error).message, /scripted crash/);
  assert.equal(host.instanceCounts.live, 0, 'the crashed worker is gone before the relaunch');
  const relaunched = next(host, 'started');
  clock.advance(500);
  await relaunched;
  assert.deepEqual(host.instanceCounts, { live: 1, maxLive: 1 });
  monitor.leaveWifi();
  await host.stop();
});

test(`worker: a provider exceeding the ${DEFAULT_MEMORY_LIMIT_MB} MiB heap limit is killed and relaunched`, async () => {
  const { clock, monitor, host } = await setup('hog');
  monitor.joinWifi('lab');
  const [, err, kind] = await next(host, 'crashed');
  assert.equal(kind, 'out-of-memory');
  assert.equal((err as { code?: string }).code, 'ERR_WORKER_OUT_OF_MEMORY');
  const relaunched = next(host, 'launched');
  clock.advance(500);
  await relaunched;
  // It hogs again; back-off doubles.
  const [, delay] = await next(host, 'relaunchScheduled');
  assert.equal(delay, 1000);
  assert.equal(host.instanceCounts.maxLive, 1);
  monitor.leaveWifi();
  await host.stop();
});

test('worker: a failed start is reported with the provider message', async () => {
  const { monitor, host } = await setup('fail-start');
  monitor.joinWifi('lab');
  const [, err] = await next(host, 'startFailed');
  assert.match((err as Error).message, /scripted start failure/);
  monitor.leaveWifi();
  await host.stop();
  assert.equal(host.instanceCounts.live, 0);
});

test('worker: a provider whose stop hangs is terminated after the stop timeout', async () => {
  const { clock, monitor, host } = await setup('hang-stop');
  const started = next(host, 'started');
  monitor.joinWifi('lab');
  await started;
  const stopped = next(host, 'stopped');
  monitor.leaveWifi();
  await pumpUntil(stopped, clock, 1000);
  assert.equal(host.instanceCounts.live, 0);
  await host.stop();
});

test('worker: a configuration saved while running reaches the provider; a throwing timer event is a crash', async () => {
  const { clock, monitor, host, manager } = await setup('ok');
  const started = next(host, 'started');
  monitor.joinWifi('lab');
  await started;
  const update = next(manager, 'incomingCall');
  manager.providerConfiguration = { behavior: 'throw-on-timer', marker: 'v2' };
  await manager.saveToPreferences();
  assert.deepEqual((await update)[0], { updated: 'v2' });

  const crashed = next(host, 'crashed');
  clock.advance(60_000);
  const [, err, kind] = await crashed;
  assert.equal(kind, 'exception');
  assert.match((err as Error).message, /scripted timer crash/);
  monitor.leaveWifi();
  await host.stop();
  assert.equal(host.instanceCounts.live, 0);
});
