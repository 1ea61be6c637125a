/**
 * Which local device an APNs device token belongs to. Devices register their APNs token and topic through
 * the HTTP API (`PUT /v1/devices/:id/apns-token`) or over their own connection, so a provider's
 * `POST /3/device/<token>` can be routed to the device's live localpush connection.
 *
 * The registrations are kept by the Store (its `*ApnsToken*` methods, on every backend and in its
 * conformance suite), so that removing a device removes its tokens in the same step. This module is the
 * APNs side's view of them.
 */
import type { ApnsTokenRecord, Store } from '../core.js';

export type { ApnsTokenRecord } from '../core.js';

/** The token ↔ device mapping, as the APNs router and the token routes use it. */
export interface ApnsTokenRegistry {
  /** Maps `token` to the device, replacing whatever it mapped to (an app reinstall can move a token). */
  register(record: ApnsTokenRecord): Promise<void>;
  /** The registration of a token (case-insensitive). */
  lookup(token: string): Promise<ApnsTokenRecord | undefined>;
  /** Every token registered by a device, ordered by token. */
  tokensOf(deviceId: string): Promise<ApnsTokenRecord[]>;
  /** Removes one token; false when it was not registered. */
  unregister(token: string): Promise<boolean>;
}

/** The part of the Store that holds the registrations. */
export type ApnsTokenStore = Pick<
  Store,
  'registerApnsToken' | 'apnsToken' | 'apnsTokensOf' | 'removeApnsToken'
>;

/** The registry over a store. */
export function storeApnsTokenRegistry(store: ApnsTokenStore): ApnsTokenRegistry {
  return {
    register: (record) => store.registerApnsToken(record),
    lookup: (token) => store.apnsToken(token),
    tokensOf: (deviceId) => store.apnsTokensOf(deviceId),
    unregister: (token) => store.removeApnsToken(token),
  };
}
