/** The in-memory store against the conformance suite. */
import { createMemoryStore } from '../../src/store/index.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('memory', () => {
  const store = createMemoryStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});
