/**
 * The SQLite store (better-sqlite3): durable, single file, WAL, with group commit.
 *
 * Group commit: every operation is queued, and the queue is flushed once per event-loop turn
 * (setImmediate) inside one transaction. A burst of sends or acks from one turn thus costs one commit
 * (and, with synchronous=full, one fsync) instead of one each. Each operation still computes its result
 * inside the transaction against the state left by the operations queued before it, and its promise
 * settles only after the batch committed, so a resolved promise means "durable".
 *
 * A batch runs first without savepoints; if an operation throws, it is rolled back whole and runs again
 * with each operation in its own savepoint: then only the failing operation's writes are undone (a
 * duplicate device, a bug) and the rest of the batch commits. If SQLite abandons the whole transaction because of one
 * operation (SQLITE_FULL may), that operation fails alone and the rest of the batch is run again. Other
 * SQLite failures (I/O errors, corruption) and a failed commit reject every operation of the batch.
 */
import Database from 'better-sqlite3';
import { closedError } from './rules.js';
import { SqliteCore } from './sqlite-core.js';
import { SqliteRetention } from './sqlite-retention.js';
import { importLegacyApnsTokens } from './sqlite-tokens.js';
import { openDatabase, translate, type SqliteOpenOptions } from './sqlite-open.js';
import type {
  AckInput,
  ApnsTokenRecord,
  DeviceRecord,
  EnqueueOptions,
  EnqueueResult,
  ListOptions,
  NewMessage,
  Receipt,
  Store,
  StoredMessage,
} from './types.js';

export type { SqliteOpenOptions, StoreLogger } from './sqlite-open.js';

/** A store that can copy itself to a file while it serves (the SQLite store). */
export interface BackupCapable {
  backup(destination: string): Promise<void>;
}

/** Whether a store can back itself up online. */
export function canBackUp(store: Store): store is Store & BackupCapable {
  return typeof (store as Partial<BackupCapable>).backup === 'function';
}

/**
 * Opens the SQLite store at `options.path`, creating and migrating the file as needed. Rejects with a
 * StoreError (STORE_CORRUPT, STORE_UNWRITABLE, STORE_SCHEMA_TOO_NEW, STORE_DISK_FULL) that names the
 * file and the fix; the file is then left as it was.
 */
export function openSqliteStore(options: SqliteOpenOptions): Promise<Store> {
  try {
    const db = openDatabase(options);
    if (options.importApnsTokensFrom !== undefined) {
      try {
        importLegacyApnsTokens(db, options.importApnsTokensFrom, options.logger);
      } catch (error) {
        db.close();
        throw translate(error, options.path) ?? error;
      }
    }
    return Promise.resolve(new SqliteStore(db, options.path));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

interface PendingOperation {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Errors after which the batch can go on without the operation: our own refusals, constraint violations,
 * and a full database (later operations may need no new pages: reads, acks). Other SQLite errors (I/O,
 * corruption) abandon the batch.
 */
function recoverable(error: unknown): boolean {
  if (!(error instanceof Database.SqliteError)) return true;
  return error.code === 'SQLITE_FULL' || error.code.startsWith('SQLITE_CONSTRAINT');
}

/** Carries an operation's error out of the batch transaction, with which operation it was. */
class OperationAbort extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super('operation aborted the batch', { cause: error });
  }
}

type Outcome = { value: unknown } | { error: Error };

class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly core: SqliteCore;
  private readonly retention: SqliteRetention;
  private queue: PendingOperation[] = [];
  private flushTimer: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly runBatch: Database.Transaction<(operations: readonly PendingOperation[]) => Outcome[]>;
  private readonly runBatchFast: Database.Transaction<(operations: readonly PendingOperation[]) => Outcome[]>;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {
    this.core = new SqliteCore(db);
    this.retention = new SqliteRetention(db);
    // Almost every batch has no failing operation, and then a savepoint per operation is two statements
    // each for nothing (a third of all the statements a delivered message costs). So a batch first runs
    // without them; if any operation throws, better-sqlite3 rolls the whole transaction back and the
    // batch runs again from scratch with a savepoint per operation, as below.
    this.runBatchFast = db.transaction((operations: readonly PendingOperation[]): Outcome[] =>
      operations.map((operation) => ({ value: operation.run() })),
    );
    // A nested db.transaction() call runs as a SAVEPOINT inside the outer transaction.
    const one = db.transaction((operation: PendingOperation) => operation.run());
    this.runBatch = db.transaction((operations: readonly PendingOperation[]): Outcome[] =>
      operations.map((operation, index) => {
        try {
          return { value: one(operation) };
        } catch (error) {
          if (!db.inTransaction || !recoverable(error)) throw new OperationAbort(index, error);
          return { error: this.toError(error) };
        }
      }),
    );
  }

  addDevice(device: DeviceRecord): Promise<void> {
    return this.submit(() => this.core.addDevice(device));
  }
  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.submit(() => this.core.getDevice(id));
  }
  listDevices(): Promise<DeviceRecord[]> {
    return this.submit(() => this.core.listDevices());
  }
  removeDevice(id: string): Promise<boolean> {
    return this.submit(() => this.core.removeDevice(id));
  }
  enqueue(message: NewMessage, options: EnqueueOptions): Promise<EnqueueResult> {
    return this.submit(() => this.core.enqueue(message, options));
  }
  recordExpired(message: NewMessage, at: number): Promise<StoredMessage> {
    return this.submit(() => this.core.recordExpired(message, at));
  }
  deliverable(deviceId: string, afterSeq: number, now: number, limit: number): Promise<StoredMessage[]> {
    return this.submit(() => this.core.deliverable(deviceId, afterSeq, now, limit));
  }
  markSent(deviceId: string, seqs: readonly number[], at: number): Promise<void> {
    const copy = [...seqs]; // the caller may reuse its array before the batch runs
    return this.submit(() => this.core.markSent(deviceId, copy, at));
  }
  acknowledge(deviceId: string, ack: AckInput, at: number): Promise<StoredMessage[]> {
    const copy: AckInput = { ...ack, ...(ack.ids === undefined ? {} : { ids: [...ack.ids] }) };
    return this.submit(() => this.core.acknowledge(deviceId, copy, at));
  }
  expireDue(now: number): Promise<StoredMessage[]> {
    return this.submit(() => this.core.expireDue(now));
  }
  markFallenBack(messageId: string, at: number, detail: string): Promise<StoredMessage | undefined> {
    return this.submit(() => this.core.markFallenBack(messageId, at, detail));
  }
  prune(before: number, limit: number): Promise<number> {
    return this.submit(() => this.retention.prune(before, limit));
  }
  getMessage(id: string): Promise<StoredMessage | undefined> {
    return this.submit(() => this.core.getMessage(id));
  }
  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]> {
    return this.submit(() => this.core.listMessages(deviceId, options));
  }
  receipts(messageId: string): Promise<Receipt[]> {
    return this.submit(() => this.core.receipts(messageId));
  }
  pendingCount(deviceId: string): Promise<number> {
    return this.submit(() => this.core.pendingCount(deviceId));
  }
  registerApnsToken(record: ApnsTokenRecord): Promise<void> {
    return this.submit(() => this.core.tokens.register(record));
  }
  apnsToken(token: string): Promise<ApnsTokenRecord | undefined> {
    return this.submit(() => this.core.tokens.lookup(token));
  }
  apnsTokensOf(deviceId: string): Promise<ApnsTokenRecord[]> {
    return this.submit(() => this.core.tokens.tokensOf(deviceId));
  }
  removeApnsToken(token: string): Promise<boolean> {
    return this.submit(() => this.core.tokens.remove(token));
  }

  /**
   * Writes a consistent copy of the database to `destination` with SQLite's online backup API, a few
   * pages per event-loop turn, while operations go on: writes through this connection during the copy
   * are carried into it, so the copy holds everything committed before it finished.
   */
  async backup(destination: string): Promise<void> {
    if (this.closed) throw closedError(this.kind);
    try {
      await this.db.backup(destination);
    } catch (error) {
      throw translate(error, destination) ?? error;
    }
  }

  /** Commits every queued operation, then closes the file (checkpointing the WAL). Safe to call twice. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.closed = true;
    try {
      this.db.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(translate(error, this.path) ?? (error as Error));
    }
  }

  /**
   * Queues an operation for the next group commit. Reads are queued too, so they see every write
   * submitted before them, exactly as with the memory store.
   */
  private submit<T>(run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(closedError(this.kind));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  private toError(error: unknown): Error {
    return translate(error, this.path) ?? (error instanceof Error ? error : new Error(String(error)));
  }

  private flush(): void {
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    let remaining = batch;
    let fast = true;
    while (remaining.length > 0) {
      let outcomes: Outcome[];
      try {
        outcomes = fast ? this.runBatchFast.immediate(remaining) : this.runBatch.immediate(remaining);
      } catch (thrown) {
        if (fast) {
          // Rolled back as a whole: nothing of it was written. Again, one savepoint per operation.
          fast = false;
          continue;
        }
        const failed = thrown instanceof OperationAbort ? remaining[thrown.index] : undefined;
        const error = thrown instanceof OperationAbort ? thrown.error : thrown;
        if (failed !== undefined && recoverable(error)) {
          // SQLite abandoned the whole transaction because of this one operation (SQLITE_FULL may do
          // that): fail it alone and run the others again from scratch; their closures recompute results.
          failed.reject(this.toError(error));
          remaining = remaining.filter((operation) => operation !== failed);
          continue;
        }
        const failure = this.toError(error);
        for (const operation of remaining) operation.reject(failure);
        return;
      }
      remaining.forEach((operation, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined) operation.reject(new Error('internal error: an operation had no outcome'));
        else if ('error' in outcome) operation.reject(outcome.error);
        else operation.resolve(outcome.value);
      });
      return;
    }
  }
}
