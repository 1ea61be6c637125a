/** The SQLite store against the conformance suite, each test on a fresh file in a temporary directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/index.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'localpush-store-'));
  const store = await openSqliteStore({ path: join(dir, 'localpush.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
