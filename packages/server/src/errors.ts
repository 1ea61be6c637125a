/**
 * Server-side errors with stable codes (docs/errors.md). Protocol errors (LP_*) live in
 * @localpush/protocol; these cover the server's own failures: configuration, storage, API.
 */
import { CodedError } from '@localpush/protocol';

export const ServerErrorCode = {
  /** A device with this id is already registered. */
  STORE_DEVICE_EXISTS: 'LP_STORE_DEVICE_EXISTS',
  /** No device with this id is registered (it may have been removed a moment ago); nothing was stored. */
  STORE_DEVICE_NOT_FOUND: 'LP_STORE_DEVICE_NOT_FOUND',
  /** The database file is not a database, or is damaged. */
  STORE_CORRUPT: 'LP_STORE_CORRUPT',
  /** The database file or its directory cannot be written. */
  STORE_UNWRITABLE: 'LP_STORE_UNWRITABLE',
  /** The database was written by a newer localpush (a schema version this build does not know). */
  STORE_SCHEMA_TOO_NEW: 'LP_STORE_SCHEMA_TOO_NEW',
  /** The disk is full. */
  STORE_DISK_FULL: 'LP_STORE_DISK_FULL',
  /** The store's server (Redis) cannot be reached or cannot write now; nothing was accepted. */
  STORE_UNAVAILABLE: 'LP_STORE_UNAVAILABLE',
  /**
   * A message id already names a message for another device, or with other content; nothing was stored.
   * The same id for the same device with the same content is a duplicate instead (idempotent).
   */
  STORE_MESSAGE_ID_CONFLICT: 'LP_STORE_MESSAGE_ID_CONFLICT',
  /** A configuration value is missing or out of range. */
  CONFIG_INVALID: 'LP_CONFIG_INVALID',
  /** `localpush config init` would replace an existing file (without --force). */
  CONFIG_EXISTS: 'LP_CONFIG_EXISTS',
  /** A listener could not bind its address. */
  LISTEN_FAILED: 'LP_LISTEN_FAILED',
  /** The data directory's TLS session-ticket key file is not 48 bytes. */
  TICKET_KEYS_INVALID: 'LP_TICKET_KEYS_INVALID',
  /** Another localpush server holds the data directory's lock (its pid is in the message). */
  DATA_DIR_LOCKED: 'LP_DATA_DIR_LOCKED',
  /** A retention run failed (logged; the next run tries again, nothing is lost). */
  RETENTION_FAILED: 'LP_RETENTION_FAILED',
  /**
   * The TLS certificate or key (--cert/--key, or the data directory's) cannot be read, does not parse,
   * do not belong together, or the certificate is not valid now. At start-up the server does not start;
   * on a reload the old certificate stays.
   */
  CERT_INVALID: 'LP_CERT_INVALID',
  /** A log line (warn): the served certificate expires within --cert-expiry-warning. */
  CERT_EXPIRING: 'LP_CERT_EXPIRING',
  /** A file given to `localpush restore` (or read back after a backup) is not a localpush database. */
  BACKUP_INVALID: 'LP_BACKUP_INVALID',
  /** The data directory or a file in it cannot be read or written by this user (or is on a read-only disk). */
  DATA_DIR_UNWRITABLE: 'LP_DATA_DIR_UNWRITABLE',
} as const;

export type ServerErrorCode = (typeof ServerErrorCode)[keyof typeof ServerErrorCode];

/** Base class of the server's errors: a stable `code`, a message that says what to do, and a `cause`. */
export class LocalpushError extends CodedError<ServerErrorCode> {
  override readonly name: string = 'LocalpushError';
}

/** A storage failure. */
export class StoreError extends LocalpushError {
  override readonly name = 'StoreError';
}
