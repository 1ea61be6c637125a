/**
 * Server-side errors with stable codes (docs/errors.md). Protocol errors (LP_*) live in
 * @localpush/protocol; these cover the server's own failures: configuration, storage, API.
 */
import { CodedError } from '@localpush/protocol';

export const ServerErrorCode = {
  /** A device with this id is already registered. */
  STORE_DEVICE_EXISTS: 'LP_STORE_DEVICE_EXISTS',
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
