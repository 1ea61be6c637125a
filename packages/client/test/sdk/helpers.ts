/** Shared test doubles for the SDK tests: a scripted PushConnection and a recording notifier. */
import { EventEmitter, once } from 'node:events';
import type { Push } from '@localpush/protocol';
import type { PushConnection, PushConnectionOptions } from '../../src/sdk/connection.js';
import type { Notification, Notifier } from '../../src/sdk/notifier.js';
import type { AppPushConfiguration } from '../../src/sdk/configuration.js';

/** A connection driven by the test: it "receives" pushes via deliver() and goes silent via stale. */
export class FakeConnection extends EventEmitter implements PushConnection {
  started = false;
  stopped = false;
  reconnects = 0;
  /** What isStale() answers; set by the test to simulate a server that stopped sending heartbeats. */
  stale = false;
  /** When set, start() waits for it: lets tests hold a launch half-way to provoke races. */
  gate: Promise<void> | undefined;

  constructor(readonly options: PushConnectionOptions) {
    super();
  }

  async start(): Promise<void> {
    await this.gate;
    this.started = true;
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  reconnect(): void {
    this.reconnects++;
    this.stale = false;
  }

  isStale(): boolean {
    return this.stale;
  }

  /** Resolves when the provider's onPush resolved: the moment a real client would ack. */
  async deliver(push: Partial<Push> & Pick<Push, 'kind' | 'payload'>): Promise<void> {
    await this.options.onPush({
      type: 'push',
      id: `m${Math.random()}`,
      seq: 1,
      priority: 10,
      expiration: 0,
      ...push,
    });
  }
}

/** Collects the connections a provider opens. */
export function connectionRecorder(): {
  connections: FakeConnection[];
  connect: (o: PushConnectionOptions) => FakeConnection;
} {
  const connections: FakeConnection[] = [];
  return {
    connections,
    connect: (o) => {
      const c = new FakeConnection(o);
      connections.push(c);
      return c;
    },
  };
}

/** A notifier that remembers what it showed. */
export class RecordingNotifier implements Notifier {
  readonly shown: Notification[] = [];
  show(n: Notification): void {
    this.shown.push(n);
  }
}

/** A valid configuration for tests, with overrides. */
export function config(overrides: Partial<AppPushConfiguration> = {}): AppPushConfiguration {
  return {
    id: 'cfg-1',
    providerBundleIdentifier: 'com.acme.kiosk.push',
    matchSSIDs: ['lab'],
    matchPrivateLTENetworks: [],
    matchEthernet: false,
    providerConfiguration: {},
    localizedDescription: 'test',
    isEnabled: true,
    ...overrides,
  };
}

/** Waits for `event` on `emitter` and returns its arguments (a promise, never a sleep). */
export function next(emitter: EventEmitter, event: string): Promise<unknown[]> {
  return once(emitter, event) as Promise<unknown[]>;
}

/** Lets queued promise callbacks run (for code that awaits already-resolved promises). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * Advances a ManualClock in steps until `promise` settles: for waits whose timer is armed at a moment the
 * test cannot observe (e.g. inside a worker round-trip). Each step yields once to the event loop.
 */
export async function pumpUntil<T>(
  promise: Promise<T>,
  clock: { advance(ms: number): void },
  stepMs: number,
): Promise<T> {
  let done = false;
  const settled = promise.finally(() => (done = true));
  for (let i = 0; i < 10_000 && !done; i++) {
    clock.advance(stepMs);
    await new Promise<void>((r) => setImmediate(r));
  }
  return settled;
}
