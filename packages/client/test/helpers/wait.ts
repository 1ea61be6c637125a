/** Event-driven waits for tests: never sleep when an event can be awaited. */
import type { ClientState, DeviceClient } from '../../src/index.js';

/** Resolves when `client` is in `state` (at once if it already is). */
export function waitForState(client: DeviceClient, state: ClientState): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = (next: ClientState): void => {
      if (next !== state) return;
      client.off('state', listener);
      resolve();
    };
    client.on('state', listener);
  });
}

/** Records every state a client passes through. */
export function recordStates(client: DeviceClient): ClientState[] {
  const states: ClientState[] = [];
  client.on('state', (s) => states.push(s));
  return states;
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A small deterministic PRNG (mulberry32) for seeded jitter. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
