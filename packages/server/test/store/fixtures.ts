/**
 * Builders shared by the store tests: devices, messages and a fixed clock origin, so each test states
 * only what matters to it.
 */
import type { DeviceRecord, NewMessage, Store, StoredMessage } from '../../src/store/types.js';

/** A fixed "now" (ms) for tests; UNIX seconds T0_S. Whole seconds so that expiration maths is exact. */
export const T0 = 1_700_000_000_000;
export const T0_S = T0 / 1000;
/** An expiration far in the future (UNIX seconds). */
export const FAR = T0_S + 86_400;

/** What a conformance factory returns: a fresh, empty store and how to dispose of it. */
export interface StoreFixture {
  store: Store;
  cleanup: () => Promise<void>;
}
export type StoreFactory = () => Promise<StoreFixture>;

export function device(id: string, overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return { id, credentialHash: 'ab'.repeat(32), label: null, createdAt: T0, ...overrides };
}

let counter = 0;

/** A message for `deviceId` with a unique id unless one is given; expires far in the future by default. */
export function message(deviceId: string, overrides: Partial<NewMessage> = {}): NewMessage {
  counter += 1;
  return {
    id: `m-${counter}`,
    deviceId,
    kind: 'alert',
    payload: { text: `hello ${counter}` },
    priority: 10,
    expiration: FAR,
    collapseId: null,
    acceptedAt: T0,
    ...overrides,
  };
}

export const BOUND = { maxQueuePerDevice: 1000 } as const;

/** Enqueues with the default bound and returns the stored message. */
export async function put(
  store: Store,
  deviceId: string,
  overrides: Partial<NewMessage> = {},
): Promise<StoredMessage> {
  return (await store.enqueue(message(deviceId, overrides), BOUND)).message;
}

/** Receipt events of a message, in order. */
export async function events(store: Store, id: string): Promise<string[]> {
  return (await store.receipts(id)).map((r) => r.event);
}

export const ids = (messages: readonly StoredMessage[]): string[] => messages.map((m) => m.id);
export const seqs = (messages: readonly StoredMessage[]): number[] => messages.map((m) => m.seq);
export const sortedIds = (messages: readonly StoredMessage[]): string[] => ids(messages).sort();
