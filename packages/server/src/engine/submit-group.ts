/**
 * The store side of a submit group (see Engine.submit): every store call of the group is issued at once,
 * in call order, so they share one group commit, take consecutive seqs in call order, and each runs
 * against the state the previous one left — as if they had run one after another.
 */
import type { EnqueueResult, NewMessage, Store, StoredMessage } from '../store/types.js';
import type { DeliveryEngineOptions } from './options.js';
import type { PendingSubmit } from './state.js';

/** What one submit of a group got from the store. */
export type GroupResult =
  | { kind: 'expired'; existing: StoredMessage | undefined; stored: StoredMessage }
  | { kind: 'enqueued'; result: EnqueueResult };

/**
 * Issues the group's store calls, one or two per submit, and waits for all of them. There is no
 * getMessage or getDevice first: enqueue reports a duplicate id itself, and rejects a conflicting reuse
 * of an id and an unknown device before writing anything (the caller confirms the latter with one
 * getDevice).
 */
export function issueGroup(
  store: Store,
  items: readonly PendingSubmit[],
  now: number,
  online: boolean,
  options: Pick<DeliveryEngineOptions, 'defaultTtlSeconds' | 'maxQueuePerDevice'>,
): Promise<PromiseSettledResult<GroupResult>[]> {
  const enqueueOptions = { maxQueuePerDevice: options.maxQueuePerDevice };
  const calls = items.map((item): Promise<GroupResult> => {
    const message = newMessage(item, now, options.defaultTtlSeconds);
    const pastExpiration = message.expiration > 0 && message.expiration * 1000 <= now;
    if (pastExpiration || (message.expiration === 0 && !online && !item.onlineElsewhere)) {
      // recordExpired is idempotent but does not say whether the id existed. The read queued right
      // before it runs against the same state (same batch, in order), so it sees what recordExpired sees.
      const existing = store.getMessage(item.id);
      const stored = store.recordExpired(message, now);
      return Promise.all([existing, stored]).then(([e, s]) => ({ kind: 'expired', existing: e, stored: s }));
    }
    return store.enqueue(message, enqueueOptions).then((result) => ({ kind: 'enqueued', result }));
  });
  return Promise.allSettled(calls);
}

/** The message a submit stores, with the defaults filled in. */
function newMessage(item: PendingSubmit, now: number, defaultTtlSeconds: number): NewMessage {
  const { request } = item;
  return {
    id: item.id,
    deviceId: request.deviceId,
    kind: request.kind,
    payload: request.payload,
    priority: request.priority,
    expiration: request.expiration ?? Math.floor(now / 1000) + defaultTtlSeconds,
    collapseId: request.collapseId ?? null,
    acceptedAt: now,
    defaultExpiration: request.expiration === undefined,
  };
}
