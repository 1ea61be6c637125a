/**
 * Apple's rule: after stop's completion the provider instance must be released — no retain cycle, no
 * lingering second instance. Here: after the host stops a provider, nothing (host, clock timers,
 * connection, manager) keeps it reachable, so the garbage collector reclaims it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '@localpush/protocol';
import { AppPushManager } from '../../src/sdk/manager.js';
import { MemoryPreferencesStore } from '../../src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { ProviderHost } from '../../src/sdk/host.js';
import { LocalPushProvider } from '../../src/sdk/local-provider.js';
import { FakeConnection, RecordingNotifier, next } from './helpers.js';

// Expose gc() to this process without a command-line flag (the test runner owns the command line).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until `collected` resolves; fails after a bounded number of rounds. */
async function collect(collected: Promise<unknown>, rounds = 50): Promise<boolean> {
  let done = false;
  void collected.then(() => (done = true));
  for (let i = 0; i < rounds && !done; i++) {
    gc();
    await new Promise<void>((r) => setImmediate(r));
  }
  return done;
}

test('a stopped provider instance and its connection are garbage-collected', async () => {
  const clock = new ManualClock();
  const store = new MemoryPreferencesStore();
  const monitor = new ScriptedNetworkMonitor();
  const finalized = new Set<string>();
  let onFinalized: (() => void) | undefined;
  const registry = new FinalizationRegistry<string>((label) => {
    finalized.add(label);
    onFinalized?.();
  });
  const providers: WeakRef<LocalPushProvider>[] = [];
  const connections: WeakRef<FakeConnection>[] = [];
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    isolation: 'in-process',
    registry: {
      'com.acme.kiosk.push': {
        create: () => {
          const p = new LocalPushProvider({
            connect: (o) => {
              const c = new FakeConnection(o);
              connections.push(new WeakRef(c));
              registry.register(c, `connection ${connections.length}`);
              return c;
            },
            notifier: new RecordingNotifier(),
          });
          providers.push(new WeakRef(p));
          registry.register(p, `provider ${providers.length}`);
          return p;
        },
      },
    },
  });
  const m = new AppPushManager(store);
  m.providerBundleIdentifier = 'com.acme.kiosk.push';
  m.matchSSIDs = ['lab'];
  m.providerConfiguration = { url: 'tls://push.lan', deviceId: 'd', credential: 'c' };
  m.isEnabled = true;
  await m.saveToPreferences();
  await host.start();
  host.attach(m);

  // Run the first instance through pushes and timer events, then take the device off the network.
  monitor.joinWifi('lab');
  await next(host, 'started');
  for (let i = 0; i < 100; i++) await connections[0]?.deref()?.deliver({ kind: 'alert', payload: `n${i}` });
  clock.advance(180_000);
  monitor.leaveWifi();
  await next(host, 'stopped');

  // A second instance runs now; the first must be reclaimable while it does.
  monitor.joinWifi('lab');
  await next(host, 'started');

  const firstGone = new Promise<void>((resolve) => {
    onFinalized = () => {
      if (finalized.has('provider 1') && finalized.has('connection 1')) resolve();
    };
  });
  onFinalized?.(); // in case V8 collected them before the callback was set
  assert.ok(
    await collect(firstGone),
    `first provider not collected (finalized: ${[...finalized].join(', ')})`,
  );
  assert.equal(providers[0]?.deref(), undefined);
  // Control: the running instance is still alive — the test would pass vacuously if gc freed everything.
  assert.ok(providers[1]?.deref(), 'the running provider is alive');
  assert.ok(!finalized.has('provider 2'));

  monitor.leaveWifi();
  await next(host, 'stopped');
  const secondGone = new Promise<void>((resolve) => {
    onFinalized = () => {
      if (finalized.has('provider 2')) resolve();
    };
  });
  onFinalized?.();
  assert.ok(await collect(secondGone), 'second provider not collected');
  await host.stop();
});
