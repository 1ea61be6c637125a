/**
 * The SQLite schema as an ordered list of migrations. The database's version is `PRAGMA user_version`
 * (0 for a new file); opening runs every migration above it, in order, each in its own transaction.
 * Never edit a released migration: append a new one, so existing files upgrade step by step.
 */

export interface Migration {
  /** The user_version after this migration. Migrations are numbered 1, 2, 3… without gaps. */
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'devices, messages, receipts, per-device sequences',
    sql: `
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        credential_hash TEXT NOT NULL,
        label TEXT,
        created_at INTEGER NOT NULL
      );

      -- The last seq per device id. Not tied to devices by a foreign key on purpose: it outlives
      -- removeDevice, so a re-added device never reuses a seq an old client may still hold.
      CREATE TABLE sequences (
        device_id TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
      );

      CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        expiration INTEGER NOT NULL,
        collapse_id TEXT,
        accepted_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        sent_at INTEGER,
        settled_at INTEGER,
        UNIQUE (device_id, seq)
      );
      -- Undelivered messages are few (bounded per device) but scanned on every enqueue, delivery and ack:
      -- partial indexes keep those scans off the long tail of settled history.
      CREATE INDEX messages_pending ON messages (device_id, seq) WHERE state IN ('queued', 'sent');
      CREATE INDEX messages_pending_collapse ON messages (device_id, collapse_id)
        WHERE state IN ('queued', 'sent') AND collapse_id IS NOT NULL;
      CREATE INDEX messages_pending_expiry ON messages (expiration, accepted_at) WHERE state IN ('queued', 'sent');

      -- rowid order is insertion order, the tie-break for receipts with the same time.
      CREATE TABLE receipts (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES messages (id),
        device_id TEXT NOT NULL,
        event TEXT NOT NULL,
        at INTEGER NOT NULL,
        detail TEXT
      );
      CREATE INDEX receipts_message ON receipts (message_id, at);
    `,
  },
  {
    version: 2,
    description: 'receipts derived from the message row; the receipts table keeps redeliveries only',
    // A delivered message used to write three receipt rows (accepted, sent, acked) — a quarter of its
    // whole cost in the store — that repeat what its own row holds: accepted_at, sent_at (the first
    // send) and settled_at with the terminal state. Only what the row cannot say stays a receipt row:
    // every send after the first. The terminal receipt's detail moves into the row.
    sql: `
      ALTER TABLE messages ADD COLUMN settled_detail TEXT;
      UPDATE messages SET settled_detail = (
          SELECT r.detail FROM receipts r
          WHERE r.message_id = messages.id AND r.event = messages.state ORDER BY r.id DESC LIMIT 1)
        WHERE state NOT IN ('queued', 'sent');
      DELETE FROM receipts WHERE event <> 'sent';
      DELETE FROM receipts WHERE id IN (SELECT min(id) FROM receipts GROUP BY message_id);
    `,
  },
  {
    version: 3,
    description: 'APNs token registrations, inside the store so that removing a device removes its tokens',
    // Until schema 3 the tokens lived in a file of their own (apns-tokens.db), so removing a device and
    // its tokens were two commits in two files. openSqliteStore imports such a file's tokens once
    // (sqlite-tokens.ts, importLegacyApnsTokens).
    sql: `
      CREATE TABLE apns_tokens (
        token TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id),
        bundle_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX apns_tokens_device ON apns_tokens (device_id, token);
    `,
  },
  {
    version: 4,
    description: 'an index of settled messages by settle time, for retention (sqlite-retention.ts)',
    // Partial, like the pending indexes: only settled rows, the ones retention looks for. A message
    // enters it once, when it settles; undelivered ones never do.
    sql: `
      CREATE INDEX messages_settled ON messages (settled_at) WHERE state NOT IN ('queued', 'sent');
    `,
  },
];

/** The newest schema version this build knows. A file with a higher user_version is refused. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;
