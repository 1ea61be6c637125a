/**
 * The APNs token registrations of the SQLite store (table `apns_tokens`, schema 3), and the one-time
 * import of the file they lived in before (`apns-tokens.db` in the data directory).
 *
 * Like sqlite-core.ts, nothing here opens a transaction of its own except the import: the methods run
 * inside sqlite.ts's group commit, and a refusal throws before anything is written.
 */
import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { byToken, normalizedApnsToken, unknownDeviceError } from './rules.js';
import type { StoreLogger } from './sqlite-open.js';
import type { ApnsTokenRecord } from './types.js';

interface TokenRow {
  token: string;
  device_id: string;
  bundle_id: string;
  environment: string;
  updated_at: number;
}

const COLUMNS = 'token, device_id, bundle_id, environment, updated_at';

function toRecord(row: TokenRow): ApnsTokenRecord {
  return {
    token: row.token,
    deviceId: row.device_id,
    bundleId: row.bundle_id,
    environment: row.environment === 'production' ? 'production' : 'development',
    updatedAt: row.updated_at,
  };
}

/** The token statements over the store's connection. */
export class SqliteApnsTokens {
  private readonly deviceExists: Statement<[string], unknown>;
  private readonly upsert: Statement<[string, string, string, string, number]>;
  private readonly byToken: Statement<[string], TokenRow>;
  private readonly byDevice: Statement<[string], TokenRow>;
  private readonly deleteToken: Statement<[string]>;
  private readonly deleteDevice: Statement<[string]>;

  constructor(db: Database.Database) {
    this.deviceExists = db.prepare('SELECT 1 FROM devices WHERE id = ?');
    this.upsert = db.prepare(
      `INSERT INTO apns_tokens (${COLUMNS}) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET device_id = excluded.device_id, bundle_id = excluded.bundle_id,
         environment = excluded.environment, updated_at = excluded.updated_at`,
    );
    this.byToken = db.prepare(`SELECT ${COLUMNS} FROM apns_tokens WHERE token = ?`);
    this.byDevice = db.prepare(`SELECT ${COLUMNS} FROM apns_tokens WHERE device_id = ? ORDER BY token`);
    this.deleteToken = db.prepare('DELETE FROM apns_tokens WHERE token = ?');
    this.deleteDevice = db.prepare('DELETE FROM apns_tokens WHERE device_id = ?');
  }

  register(record: ApnsTokenRecord): void {
    if (this.deviceExists.get(record.deviceId) === undefined) {
      throw unknownDeviceError(record.deviceId, 'an APNs token');
    }
    const r = normalizedApnsToken(record);
    this.upsert.run(r.token, r.deviceId, r.bundleId, r.environment, r.updatedAt);
  }

  lookup(token: string): ApnsTokenRecord | undefined {
    const row = this.byToken.get(token.toLowerCase());
    return row === undefined ? undefined : toRecord(row);
  }

  tokensOf(deviceId: string): ApnsTokenRecord[] {
    // ORDER BY compares bytes; sorting again keeps the order the other stores give for any token text.
    return this.byDevice.all(deviceId).map(toRecord).sort(byToken);
  }

  remove(token: string): boolean {
    return this.deleteToken.run(token.toLowerCase()).changes > 0;
  }

  /** Part of removing a device: runs inside its transaction, before the device row goes. */
  removeDevice(deviceId: string): void {
    this.deleteDevice.run(deviceId);
  }
}

/** The suffix a legacy token file is renamed with once its tokens are in the store. */
export const IMPORTED_SUFFIX = '.imported';

/**
 * Moves the tokens of a pre-schema-3 token file into the store, so that nobody loses a registration by
 * upgrading: every token of a device the store knows is copied in one transaction (a token the store
 * already has keeps the store's registration); tokens of devices that no longer exist — left behind by
 * the old two-file removal — are dropped and counted. Then the file is renamed `<path>.imported`, so the
 * import runs once. A file that cannot be read is left where it is, with a warning, and the store opens
 * without it: a damaged side file must not keep the push server down.
 */
export function importLegacyApnsTokens(
  db: Database.Database,
  legacyPath: string,
  logger: StoreLogger | undefined,
): void {
  if (!existsSync(legacyPath)) return;
  let rows: TokenRow[];
  try {
    // Read-write, so that SQLite recovers the file's WAL and, when this last connection closes,
    // checkpoints it and removes the -wal and -shm files before the rename.
    const legacy = new Database(legacyPath, { fileMustExist: true });
    try {
      rows = legacy.prepare<[], TokenRow>(`SELECT ${COLUMNS} FROM apns_tokens`).all();
    } finally {
      legacy.close();
    }
  } catch (error) {
    logger?.warn(
      { path: legacyPath, err: error },
      'could not read the APNs token file of an older localpush; left it in place, its tokens are not imported',
    );
    return;
  }
  const insert = db.prepare<[TokenRow]>(
    `INSERT INTO apns_tokens (${COLUMNS})
       SELECT lower(@token), @device_id, @bundle_id, @environment, @updated_at
       WHERE EXISTS (SELECT 1 FROM devices WHERE id = @device_id)
     ON CONFLICT (token) DO NOTHING`,
  );
  const imported = db
    .transaction(() => rows.reduce((count, row) => count + insert.run(legacyRow(row)).changes, 0))
    .immediate();
  const renamedTo = `${legacyPath}${IMPORTED_SUFFIX}`;
  renameSync(legacyPath, renamedTo);
  // Skipped: tokens of removed devices, and tokens the store had registered already.
  logger?.info(
    { path: legacyPath, imported, skipped: rows.length - imported, renamedTo },
    'imported the APNs tokens of an older localpush into the store',
  );
}

/** Only the columns the insert binds, with the environment as the store keeps it. */
function legacyRow(row: TokenRow): TokenRow {
  return {
    token: row.token,
    device_id: row.device_id,
    bundle_id: row.bundle_id,
    environment: row.environment === 'production' ? 'production' : 'development',
    updated_at: row.updated_at,
  };
}
