/** Presence: the session directory, its contract and its local implementation. */
export * from './types.js';
export { LocalSessionDirectory, type LocalSessionDirectoryOptions, type PresenceLogger } from './local.js';
