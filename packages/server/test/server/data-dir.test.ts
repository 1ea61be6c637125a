/**
 * One server per data directory, and a data directory nobody else can read: a second server on the same
 * directory is refused at start-up (in this process and from another one), naming the directory and the
 * holder's pid, without touching anything of the first one's; a holder killed with SIGKILL leaves nothing
 * stuck; the directory is 0700 and the database files 0600, tightened when they were looser.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalpushError, ServerErrorCode } from '../../src/errors.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { LOOPBACK_CONFIG } from '../helpers/loopback-server.js';
import { apiRequest, killServer, spawnServer, stopServer, type ServerChild } from '../crash/harness.js';

const base = LOOPBACK_CONFIG;

/**
 * Every file of the directory with its mode, size and modification time. stat() only: reading a file
 * would open it, and closing any descriptor of a file drops every fcntl lock this process holds on it —
 * the lock of a server running in this process, and SQLite's own.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const info = await stat(join(dir, name));
    out[name] = `${(info.mode & 0o777).toString(8)} ${info.size} ${info.mtimeMs}`;
  }
  out['.'] = ((await stat(dir)).mode & 0o777).toString(8);
  return out;
}

async function refusal(promise: Promise<RunningServer>): Promise<LocalpushError> {
  const error = await promise.then(
    async (server) => {
      await server.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof LocalpushError, `expected a LocalpushError, got ${String(error)}`);
  return error;
}

describe('the data directory', () => {
  const dirs: string[] = [];
  const children: ServerChild[] = [];
  const servers: RunningServer[] = [];
  const freshDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'localpush-datadir-'));
    dirs.push(dir);
    return dir;
  };

  after(async () => {
    for (const server of servers) await server.close({ drainTimeoutMs: 100 });
    for (const child of children) await stopServer(child);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a second server in the same process, naming the directory and the pid, and changes nothing', async () => {
    const dataDir = await freshDir();
    const first = await startServer({ ...base, dataDir });
    servers.push(first);
    const before = await snapshot(dataDir);

    const error = await refusal(startServer({ ...base, dataDir }));
    assert.equal(error.code, ServerErrorCode.DATA_DIR_LOCKED);
    assert.ok(error.message.includes(dataDir), error.message);
    assert.ok(error.message.includes(`pid ${process.pid}`), error.message);
    assert.deepEqual(await snapshot(dataDir), before);

    // The first server still works: its lock was not disturbed by the refused one.
    const added = await apiRequest(first.addresses.api.port, first.providerKey, 'GET', '/v1/devices');
    assert.equal(added.kind === 'answer' && added.status, 200);
    const again = await refusal(startServer({ ...base, dataDir }));
    assert.equal(again.code, ServerErrorCode.DATA_DIR_LOCKED);
  });

  it('refuses a second server while another process holds it, and starts once a kill -9 removed the holder', async () => {
    const dataDir = await freshDir();
    const holder = await spawnServer({ ...base, dataDir });
    children.push(holder);
    const before = await snapshot(dataDir);

    const error = await refusal(startServer({ ...base, dataDir }));
    assert.equal(error.code, ServerErrorCode.DATA_DIR_LOCKED);
    assert.ok(error.message.includes(dataDir), error.message);
    assert.ok(error.message.includes(`process ${holder.info.pid}`), error.message);
    assert.deepEqual(await snapshot(dataDir), before);

    await killServer(holder);
    const next = await startServer({ ...base, dataDir });
    servers.push(next);
    assert.equal(next.identity.spkiPin, holder.info.pin);
    assert.equal(next.providerKey, holder.info.providerKey);
  });

  it('releases the directory on close, so the next start on it succeeds', async () => {
    const dataDir = await freshDir();
    const first = await startServer({ ...base, dataDir });
    await first.close();
    const second = await startServer({ ...base, dataDir });
    await second.close();
  });

  it('keeps the directory 0700 and the database, WAL and SHM files 0600, tightening looser ones', async () => {
    const parent = await freshDir();
    const dataDir = join(parent, 'data');
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    // A database left world-readable (as an older localpush created it).
    await writeFile(join(dataDir, 'localpush.db'), '', { mode: 0o644 });
    await chmod(join(dataDir, 'localpush.db'), 0o644);
    const warnings: string[] = [];
    const logger = (await import('pino')).pino(
      { level: 'warn' },
      {
        write(line: string) {
          warnings.push(line);
        },
      },
    );
    const server = await startServer({ ...base, dataDir }, { logger });
    try {
      // A message makes SQLite write its WAL.
      await apiRequest(server.addresses.api.port, server.providerKey, 'POST', '/v1/devices', { id: 'd' });
      assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
      for (const name of ['localpush.db', 'localpush.db-wal', 'localpush.db-shm', 'localpush.lock']) {
        assert.equal(((await stat(join(dataDir, name))).mode & 0o777).toString(8), '600', name);
      }
      assert.ok(
        warnings.some((w) => w.includes('data directory was readable')),
        warnings.join(''),
      );
      assert.ok(
        warnings.some((w) => w.includes('database file was readable')),
        warnings.join(''),
      );
    } finally {
      await server.close();
    }
  });

  it('creates a missing directory 0700 with owner-only files', async () => {
    const dataDir = join(await freshDir(), 'new');
    const server = await startServer({ ...base, dataDir });
    try {
      await apiRequest(server.addresses.api.port, server.providerKey, 'POST', '/v1/devices', { id: 'd' });
      assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
      for (const name of ['localpush.db', 'localpush.db-wal', 'localpush.db-shm']) {
        assert.equal(((await stat(join(dataDir, name))).mode & 0o777).toString(8), '600', name);
      }
    } finally {
      await server.close();
    }
  });
});
