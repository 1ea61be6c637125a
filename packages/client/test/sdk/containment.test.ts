/**
 * The host contains its providers: a start() that never completes cannot wedge the ProviderHost. Leaving
 * the network, a host stop and the start deadline each end such a start — its socket closes, its worker
 * thread is gone — and a configuration saved while a provider starts reaches it once it runs. The
 * provider under test holds a real loopback connection while it starts (`hold-start`), exactly as a
 * provider dialling its server does, so "its socket stays open" is observed on a real socket; worker
 * threads are real, and whether one still exists is read from /proc (Linux), not from the host's own
 * bookkeeping. Host timers run on a ManualClock; nothing sleeps.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '@localpush/protocol';
import type { JsonObject } from '../../src/sdk/json.js';
import { AppPushManager } from '../../src/sdk/manager.js';
import { MemoryPreferencesStore } from '../../src/sdk/preferences.js';
import { ScriptedNetworkMonitor } from '../../src/sdk/network.js';
import { type Isolation, ProviderHost, type ProviderHostOptions } from '../../src/sdk/host.js';
import { StopReason } from '../../src/sdk/provider.js';
import { AsyncQueue } from '../helpers/fake-server.js';
import ScriptableProvider from './fixtures/scriptable-provider.js';
import { next, pumpUntil } from './helpers.js';

const BUNDLE = 'com.acme.kiosk.push';
const FIXTURE = fileURLToPath(new URL('./fixtures/scriptable-provider.ts', import.meta.url));
const ISOLATIONS: readonly Isolation[] = ['worker', 'in-process'];

/** The provider's server: it accepts the provider's connection and decides when its start may finish. */
class HoldServer {
  readonly connections = new AsyncQueue<{ socket: Socket; closed: Promise<void> }>();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: ReturnType<typeof createServer>) {
    server.on('connection', (socket) => {
      socket.on('error', () => {});
      this.sockets.add(socket);
      this.connections.push({ socket, closed: once(socket, 'close').then(() => undefined) });
    });
  }

  static async start(t: TestContext): Promise<HoldServer> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const hold = new HoldServer(server);
    t.after(() => {
      for (const socket of hold.sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return hold;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
}

async function setup(
  t: TestContext,
  isolation: Isolation,
  providerConfiguration: JsonObject,
  extra: Partial<ProviderHostOptions> = {},
) {
  const clock = new ManualClock();
  const store = new MemoryPreferencesStore();
  const monitor = new ScriptedNetworkMonitor();
  const host = new ProviderHost({
    store,
    monitor,
    clock,
    isolation,
    registry: {
      [BUNDLE]: isolation === 'worker' ? { module: FIXTURE } : { create: () => new ScriptableProvider() },
    },
    backoff: { initialMs: 500 },
    // The relaunch back-off's full jitter pinned to the top of its window, so delays are exact.
    random: () => 1,
    startTimeoutMs: 5_000,
    stopTimeoutMs: 2_000,
    ...extra,
  });
  const manager = new AppPushManager(store);
  manager.providerBundleIdentifier = BUNDLE;
  manager.matchSSIDs = ['lab'];
  manager.providerConfiguration = providerConfiguration;
  manager.isEnabled = true;
  await manager.saveToPreferences();
  await host.start();
  // Whatever a test leaves running is stopped; pumped, because a stop may wait on the host's clock.
  t.after(() => pumpUntil(host.stop(), clock, 1_000));
  return { clock, monitor, host, manager };
}

const canSeeThreads = existsSync('/proc/thread-self/comm');

/** Whether an OS thread of this process has this name (the fixture names its worker's thread). */
function threadAlive(name: string): boolean {
  return readdirSync('/proc/self/task').some((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name;
    } catch {
      return false; // the thread ended while we looked
    }
  });
}

for (const isolation of ISOLATIONS) {
  test(`${isolation}: leaving the network ends a start that never completes; its socket closes`, async (t) => {
    const hold = await HoldServer.start(t);
    const { monitor, host, manager } = await setup(t, isolation, { behavior: 'hold-start', port: hold.port });
    monitor.joinWifi('lab');
    const { closed } = await hold.connections.shift(); // starting, and it holds its connection
    const stopped = next(host, 'stopped');
    monitor.leaveWifi();
    assert.deepEqual((await stopped).slice(1), [StopReason.noNetworkAvailable]);
    await closed;
    assert.deepEqual(host.instanceCounts, { live: 0, maxLive: 1 });
    assert.equal(host.isActive(manager.configurationId ?? ''), false);
  });

  test(`${isolation}: host.stop() during a start that never completes finishes, even when stop() hangs too`, async (t) => {
    const hold = await HoldServer.start(t);
    const { clock, monitor, host } = await setup(t, isolation, {
      behavior: 'hold-start',
      port: hold.port,
      hangStop: true,
    });
    monitor.joinWifi('lab');
    const { closed } = await hold.connections.shift();
    // The provider never confirms its stop, so only the stop deadline (2 s here) ends it.
    await pumpUntil(host.stop(), clock, 1_000);
    assert.equal(host.instanceCounts.live, 0);
    if (isolation === 'worker') await closed; // terminated; in-process nothing can take the socket away
  });

  test(`${isolation}: a start past its deadline is a crash: the instance is ended and relaunched with the crash back-off`, async (t) => {
    const hold = await HoldServer.start(t);
    const { clock, monitor, host } = await setup(t, isolation, {
      behavior: 'hold-start',
      port: hold.port,
      hangStop: true,
    });
    monitor.joinWifi('lab');
    const first = await hold.connections.shift();
    const crashed = next(host, 'crashed');
    const scheduled = next(host, 'relaunchScheduled');
    clock.advance(5_000);
    // In-process the host cannot kill the provider: it asks it to stop, for at most the stop deadline.
    const [, err, kind] = await pumpUntil(crashed, clock, 100);
    assert.equal(kind, 'start-timeout');
    assert.equal((err as { code?: string }).code, 'LP_PROVIDER_START_TIMEOUT');
    assert.match((err as Error).message, /did not complete its start within 5000 ms/);
    assert.equal((await scheduled)[1], 500);
    assert.equal(host.instanceCounts.live, 0);
    if (isolation === 'worker') await first.closed;

    const started = next(host, 'started');
    clock.advance(500);
    const second = await hold.connections.shift();
    second.socket.write('go');
    await started;
    assert.deepEqual(host.instanceCounts, { live: 1, maxLive: 1 });
  });

  test(`${isolation}: a configuration saved while the provider starts reaches it once it runs`, async (t) => {
    const hold = await HoldServer.start(t);
    const { monitor, host, manager } = await setup(t, isolation, {
      behavior: 'hold-start',
      port: hold.port,
      marker: 'v1',
    });
    monitor.joinWifi('lab');
    const { socket } = await hold.connections.shift();
    manager.providerConfiguration = { behavior: 'hold-start', port: hold.port, marker: 'v2' };
    await manager.saveToPreferences();
    // The fixture echoes each configuration it is given as an incoming call.
    const update = next(host, 'incomingCall');
    const started = next(host, 'started');
    socket.write('go');
    await started;
    assert.deepEqual((await update)[1], { updated: 'v2' });
  });
}

test('in-process: a running provider whose stop never completes is dropped after the stop deadline', async (t) => {
  const { clock, monitor, host } = await setup(t, 'in-process', { behavior: 'ok', hangStop: true });
  monitor.joinWifi('lab');
  await host.idle(); // started, and the host's loop has settled: the stop below begins at once
  const stopped = next(host, 'stopped');
  monitor.leaveWifi();
  clock.advance(1_999);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(host.instanceCounts.live, 1, 'still within the stop deadline');
  clock.advance(1);
  assert.deepEqual((await stopped).slice(1), [StopReason.noNetworkAvailable]);
  assert.equal(host.instanceCounts.live, 0);
  await host.stop();
});

test('worker: an instance counts as released only after its thread has exited', async (t) => {
  if (!canSeeThreads) return t.skip('needs /proc/thread-self (Linux) to see worker threads');
  const hold = await HoldServer.start(t);
  const { clock, monitor, host, manager } = await setup(t, 'worker', {
    behavior: 'fail-start',
    thread: 'lp-c-failed',
  });
  const seen: Record<string, boolean> = {};
  const look = (event: string, thread: string) => () => (seen[event] = threadAlive(thread));

  // A failed start: the host reports it (and may relaunch) only once the thread is gone.
  host.once('startFailed', look('startFailed', 'lp-c-failed'));
  const failed = next(host, 'startFailed');
  monitor.joinWifi('lab');
  await failed;
  assert.equal(seen.startFailed, false, 'startFailed while the worker thread still ran');
  assert.equal(host.instanceCounts.live, 0);

  // A start past its deadline.
  monitor.leaveWifi();
  await host.idle();
  manager.providerConfiguration = { behavior: 'hold-start', port: hold.port, thread: 'lp-c-slow' };
  await manager.saveToPreferences();
  host.once('crashed', look('crashed', 'lp-c-slow'));
  monitor.joinWifi('lab');
  await hold.connections.shift();
  const crashed = next(host, 'crashed');
  clock.advance(5_000);
  await crashed;
  assert.equal(seen.crashed, false, 'crashed (start-timeout) while the worker thread still ran');

  // A stop during the start.
  monitor.leaveWifi();
  await host.idle();
  manager.providerConfiguration = { behavior: 'hold-start', port: hold.port, thread: 'lp-c-stopped' };
  await manager.saveToPreferences();
  host.once('stopped', look('stopped', 'lp-c-stopped'));
  monitor.joinWifi('lab');
  await hold.connections.shift();
  const stopped = next(host, 'stopped');
  monitor.leaveWifi();
  await stopped;
  assert.equal(seen.stopped, false, 'stopped while the worker thread still ran');
  assert.deepEqual(host.instanceCounts, { live: 0, maxLive: 1 });
});
