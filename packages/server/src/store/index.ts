/**
 * The storage layer: the Store contract and its backends. The engine and the server depend on the
 * Store interface only; pick a backend here.
 */
export * from './types.js';
export { createMemoryStore } from './memory.js';
