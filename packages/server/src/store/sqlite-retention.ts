/**
 * Retention in the SQLite store: deleting settled messages and their receipt rows, a batch at a time.
 * Like sqlite-core.ts it opens no transaction: `prune` runs inside sqlite.ts's group commit, as one
 * operation among the deliveries of the same event-loop turn, so a batch is kept small (the caller's
 * limit) and never holds the file for long.
 */
import type { Database, Statement } from 'better-sqlite3';

/** The terminal states, spelled as in the partial index `messages_settled` (schema 4), so it is used. */
const SETTLED = `state NOT IN ('queued', 'sent')`;

export class SqliteRetention {
  private readonly due: Statement<[number, number], string>;
  private readonly deleteReceipts: Statement<[string]>;
  private readonly deleteMessage: Statement<[string]>;

  constructor(db: Database) {
    this.due = db
      .prepare<[number, number], string>(
        `SELECT id FROM messages WHERE ${SETTLED} AND settled_at <= ? ORDER BY settled_at LIMIT ?`,
      )
      .pluck();
    this.deleteReceipts = db.prepare('DELETE FROM receipts WHERE message_id = ?');
    this.deleteMessage = db.prepare('DELETE FROM messages WHERE id = ?');
  }

  /** Store.prune: the oldest-settled messages first, each with its receipt rows (redeliveries). */
  prune(before: number, limit: number): number {
    if (limit <= 0) return 0;
    const ids = this.due.all(before, limit);
    for (const id of ids) {
      this.deleteReceipts.run(id);
      this.deleteMessage.run(id);
    }
    return ids.length;
  }
}
