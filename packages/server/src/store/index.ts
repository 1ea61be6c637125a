/**
 * The storage layer: the Store contract and its backends. The engine and the server depend on the
 * Store interface only; pick a backend here.
 */
export * from './types.js';
export { createMemoryStore } from './memory.js';
export {
  canBackUp,
  openSqliteStore,
  type BackupCapable,
  type SqliteOpenOptions,
  type StoreLogger,
} from './sqlite.js';
export { LATEST_SCHEMA_VERSION } from './sqlite-schema.js';
export { openRedisStore, type RedisStoreOptions } from './redis.js';
export type { RedisAddress, RedisConnectionOptions } from './redis-connect.js';
