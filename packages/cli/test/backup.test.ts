/**
 * `localpush backup` and `localpush restore` as a round trip under traffic: pushes are accepted all
 * through a backup of the running server (taken through its API, since the server holds the data
 * directory), every push accepted before the backup began is in the restored store, a restore is refused
 * while a server runs on the directory, a stopped directory is backed up directly, and a file that is
 * not a localpush database is refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore, startServer, type RunningServer } from '@localpush/server';
import { cli } from './helpers/run.js';

const base = { store: 'sqlite' as const, tlsPort: 0, wsPort: null, apiPort: 0, logLevel: 'silent' as const };

async function start(dataDir: string): Promise<{ server: RunningServer; api: string }> {
  const server = await startServer({ ...base, dataDir });
  return { server, api: `http://127.0.0.1:${server.addresses.api.port}` };
}

/** Pushes to an offline device as fast as the API answers, until stopped; the ids answered 2xx, in order. */
function traffic(api: string, key: string): { accepted: string[]; stop: () => Promise<void> } {
  const accepted: string[] = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const id = `m-${n++}`;
      const response = await fetch(`${api}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: 'd1', id, kind: 'message', payload: { n } }),
      });
      await response.arrayBuffer();
      if (response.ok) accepted.push(id);
    }
  })();
  return {
    accepted,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe('localpush backup / restore', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-backup-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('round trip under traffic: what was accepted before the backup is in the restored store', async () => {
    const live = join(dir, 'live');
    const file = join(dir, 'live.backup');
    const { server, api } = await start(live);
    let stopTraffic = async (): Promise<void> => {};
    try {
      await server.store.addDevice({ id: 'd1', credentialHash: 'ab'.repeat(32), label: null, createdAt: 1 });
      const load = traffic(api, server.providerKey);
      stopTraffic = load.stop;
      while (load.accepted.length < 200) await new Promise((resolve) => setImmediate(resolve));
      const beforeBackup = [...load.accepted];
      const run = cli(['backup', file, '--data-dir', live, '--api', api]);
      assert.equal(await run.code, 0, run.stderr.join(''));
      const countAtEnd = load.accepted.length;
      await load.stop();
      assert.ok(countAtEnd > beforeBackup.length, 'pushes were accepted while the backup ran');
      assert.match(run.stdout.join(''), /backed up 1 devices and \d+ messages .* from the running server/);

      // Refused while a server holds the directory.
      const refused = cli(['restore', file, '--data-dir', live]);
      assert.equal(await refused.code, 1);
      assert.match(refused.stderr.join(''), /LP_DATA_DIR_LOCKED: a server is running on .*stop it first/);

      const restoredDir = join(dir, 'restored');
      await server.close();
      const restore = cli(['restore', file, '--data-dir', restoredDir]);
      assert.equal(await restore.code, 0, restore.stderr.join(''));
      const store = await openSqliteStore({ path: join(restoredDir, 'localpush.db') });
      try {
        assert.equal((await store.getDevice('d1'))?.id, 'd1');
        for (const id of beforeBackup) assert.equal((await store.getMessage(id))?.state, 'queued', id);
      } finally {
        await store.close();
      }
    } finally {
      await stopTraffic();
      await server.close();
    }
  });

  it('backs up a stopped data directory directly; restore keeps the database it replaces', async () => {
    const stopped = join(dir, 'stopped');
    const { server } = await start(stopped);
    await server.store.addDevice({ id: 'd2', credentialHash: 'ab'.repeat(32), label: null, createdAt: 1 });
    await server.close();
    const file = join(dir, 'stopped.backup');
    const run = cli(['backup', file, '--data-dir', stopped]);
    assert.equal(await run.code, 0, run.stderr.join(''));
    assert.match(run.stdout.join(''), new RegExp(`backed up 1 devices and 0 messages .* from ${stopped}`));
    const restore = cli(['restore', file, '--data-dir', stopped]);
    assert.equal(await restore.code, 0, restore.stderr.join(''));
    assert.match(restore.stdout.join(''), /kept as .*localpush\.db\.before-restore-/);
  });

  it('refuses a file that is not a localpush database, changing nothing', async () => {
    const target = join(dir, 'target');
    const { server } = await start(target);
    await server.store.addDevice({ id: 'd3', credentialHash: 'ab'.repeat(32), label: null, createdAt: 1 });
    await server.close();
    const junk = join(dir, 'junk.backup');
    await writeFile(junk, 'this is not a database');
    const run = cli(['restore', junk, '--data-dir', target]);
    assert.equal(await run.code, 1);
    assert.match(run.stderr.join(''), /LP_BACKUP_INVALID/);
    const store = await openSqliteStore({ path: join(target, 'localpush.db') });
    try {
      assert.equal((await store.getDevice('d3'))?.id, 'd3');
    } finally {
      await store.close();
    }
    const usage = cli(['backup']);
    assert.equal(await usage.code, 2);
  });
});
