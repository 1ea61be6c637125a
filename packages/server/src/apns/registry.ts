/**
 * Which local device an APNs device token belongs to. Devices register their APNs token and topic through
 * the HTTP API (`PUT /v1/devices/:id/apns-token`), so a provider's `POST /3/device/<token>` can be routed to
 * the device's live localpush connection. Kept apart from the message store (its own table, its own SQLite
 * file) because it is APNs-specific and the store's schema and conformance suite need not know about it.
 */
import Database from 'better-sqlite3';
import { ownerOnlyFile } from '../core.js';
import type { ApnsEnvironment } from './token-verifier.js';

/** One registration: a device's APNs token for one app. */
export interface ApnsTokenRecord {
  /** Lower-case hex device token. */
  readonly token: string;
  readonly deviceId: string;
  /** The app's bundle id (the topic without any push-type suffix). */
  readonly bundleId: string;
  /** Which APNs environment issued the token (a sandbox token is unknown to production and vice versa). */
  readonly environment: ApnsEnvironment;
  /** When it was registered (ms since the epoch). */
  readonly updatedAt: number;
}

/** The token ↔ device mapping. Async so that a network backend fits. */
export interface ApnsTokenRegistry {
  /** Maps `token` to the device, replacing whatever it mapped to (an app reinstall can move a token). */
  register(record: ApnsTokenRecord): Promise<void>;
  /** The registration of a (lower-case) token. */
  lookup(token: string): Promise<ApnsTokenRecord | undefined>;
  /** Every token registered by a device. */
  tokensOf(deviceId: string): Promise<ApnsTokenRecord[]>;
  /** Removes one token; false when it was not registered. */
  unregister(token: string): Promise<boolean>;
  /** Removes every token of a device (the device was removed). Returns how many. */
  removeDevice(deviceId: string): Promise<number>;
  close(): Promise<void>;
}

/** A registry that lives in memory only (tests, `--store memory`). */
export function createMemoryApnsTokenRegistry(): ApnsTokenRegistry {
  const byToken = new Map<string, ApnsTokenRecord>();
  return {
    register(record) {
      byToken.set(record.token.toLowerCase(), { ...record, token: record.token.toLowerCase() });
      return Promise.resolve();
    },
    lookup(token) {
      return Promise.resolve(byToken.get(token.toLowerCase()));
    },
    tokensOf(deviceId) {
      return Promise.resolve([...byToken.values()].filter((r) => r.deviceId === deviceId));
    },
    unregister(token) {
      return Promise.resolve(byToken.delete(token.toLowerCase()));
    },
    removeDevice(deviceId) {
      let removed = 0;
      for (const [token, record] of byToken) {
        if (record.deviceId === deviceId) {
          byToken.delete(token);
          removed++;
        }
      }
      return Promise.resolve(removed);
    },
    close() {
      return Promise.resolve();
    },
  };
}

interface Row {
  token: string;
  device_id: string;
  bundle_id: string;
  environment: string;
  updated_at: number;
}

/** A registry in its own SQLite file (WAL), so registrations survive restarts like messages do. */
export function openSqliteApnsTokenRegistry(path: string): ApnsTokenRegistry {
  // Owner-only, like the message store: SQLite gives the -wal and -shm files the database's mode.
  for (const file of [path, `${path}-wal`, `${path}-shm`]) ownerOnlyFile(file, file === path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS apns_tokens (
    token TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS apns_tokens_device ON apns_tokens (device_id);`);
  const upsert = db.prepare(
    `INSERT INTO apns_tokens (token, device_id, bundle_id, environment, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (token) DO UPDATE SET device_id = excluded.device_id, bundle_id = excluded.bundle_id,
       environment = excluded.environment, updated_at = excluded.updated_at`,
  );
  const byToken = db.prepare<[string], Row>('SELECT * FROM apns_tokens WHERE token = ?');
  const byDevice = db.prepare<[string], Row>('SELECT * FROM apns_tokens WHERE device_id = ? ORDER BY token');
  const deleteToken = db.prepare('DELETE FROM apns_tokens WHERE token = ?');
  const deleteDevice = db.prepare('DELETE FROM apns_tokens WHERE device_id = ?');
  const toRecord = (row: Row): ApnsTokenRecord => ({
    token: row.token,
    deviceId: row.device_id,
    bundleId: row.bundle_id,
    environment: row.environment === 'production' ? 'production' : 'development',
    updatedAt: row.updated_at,
  });
  // better-sqlite3 is synchronous; the promises only give the interface room for network backends.
  return {
    register(record) {
      upsert.run(
        record.token.toLowerCase(),
        record.deviceId,
        record.bundleId,
        record.environment,
        record.updatedAt,
      );
      return Promise.resolve();
    },
    lookup(token) {
      const row = byToken.get(token.toLowerCase());
      return Promise.resolve(row === undefined ? undefined : toRecord(row));
    },
    tokensOf(deviceId) {
      return Promise.resolve(byDevice.all(deviceId).map(toRecord));
    },
    unregister(token) {
      return Promise.resolve(deleteToken.run(token.toLowerCase()).changes > 0);
    },
    removeDevice(deviceId) {
      return Promise.resolve(deleteDevice.run(deviceId).changes);
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}
