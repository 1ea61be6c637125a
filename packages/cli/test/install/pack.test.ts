/**
 * Installing outside the repository (issue 15, "Installing"): the four packages are packed with
 * `npm pack`, the tarballs installed into an empty directory — third-party dependencies from npm's cache
 * (--prefer-offline), better-sqlite3 from the repository's own build of it (see localSqlitePrebuild) — and there
 * `npx localpush --help` works and `npx localpush serve` on free ports answers /healthz. Each package's
 * `files`, `exports` and `bin` must be right for that; nothing of the repository is reachable from the
 * temporary directory. Skipped, saying so, where npm is missing.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PACKAGES = ['protocol', 'client', 'server', 'cli'] as const;
/** Every step has its own bound: a hung install fails the test instead of stalling the suite. */
const INSTALL_TIMEOUT_MS = 480_000;
const STEP_TIMEOUT_MS = 60_000;

interface PackResult {
  name: string;
  filename: string;
  files: { path: string }[];
}

async function npmAvailable(): Promise<boolean> {
  try {
    await exec('npm', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * better-sqlite3's install script (prebuild-install) downloads a prebuilt binary from GitHub, which this
 * machine cannot reach, and then compiles SQLite from source: a minute or two of both cores. The
 * repository's own build of the same version is offered to it as a local prebuild instead (its
 * documented `npm_config_<package>_local_prebuilds`), so the install compiles nothing; where the
 * versions differ, or there is no build, it compiles as on any machine. Answers the environment to add.
 */
async function localSqlitePrebuild(into: string): Promise<Record<string, string>> {
  const source = join(ROOT, 'node_modules/better-sqlite3');
  const binary = 'build/Release/better_sqlite3.node';
  try {
    const { version } = JSON.parse(await readFile(join(source, 'package.json'), 'utf8')) as {
      version: string;
    };
    await access(join(source, binary));
    await mkdir(into, { recursive: true });
    const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
    await exec('tar', ['czf', join(into, name), '-C', source, binary], { timeout: STEP_TIMEOUT_MS });
    return { npm_config_better_sqlite3_local_prebuilds: into };
  } catch {
    return {};
  }
}

interface Serving {
  child: ChildProcess;
  /** The HTTP API's base URL, from the banner. */
  api: string;
  /** Everything the command wrote to stderr so far. */
  stderr: () => string;
}

/** Runs `npx localpush serve` in `cwd` on free ports and resolves once its banner names the API. */
async function startServe(cwd: string, dataDir: string): Promise<Serving> {
  const args = ['--no-install', 'localpush', 'serve', '--data-dir', dataDir];
  args.push('--api-port', '0', '--tls-port', '0', '--no-ws', '--log-level', 'warn');
  // Its own process group, so that the group (npx and the node under it) is stopped as one.
  const child = spawn('npx', args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const api = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const found = /HTTP API\s+(http:\/\/\S+)/.exec(stdout);
      if (found?.[1]) resolve(found[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`localpush serve exited (${code}) before its banner:\n${stdout}\n${stderr}`)),
    );
  });
  return { child, api, stderr: () => stderr };
}

describe(
  'npm pack tarballs install into an empty directory',
  { timeout: INSTALL_TIMEOUT_MS + 120_000 },
  () => {
    let dir = '';
    let app = '';
    let available = false;
    const packed = new Map<string, PackResult>();

    before(
      async () => {
        available = await npmAvailable();
        if (!available) return;
        dir = await mkdtemp(join(tmpdir(), 'localpush-pack-'));
        const tarballs = join(dir, 'tarballs');
        app = join(dir, 'app');
        await mkdir(tarballs);
        await mkdir(app);
        // What is packed is dist/: build first (incremental, so nearly free after `npm test`'s own build).
        const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
        await exec(process.execPath, [tsc, '-b', ...PACKAGES.map((p) => join(ROOT, 'packages', p))], {
          timeout: INSTALL_TIMEOUT_MS,
        });
        const workspaces = PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`]);
        const { stdout } = await exec(
          'npm',
          ['pack', '--json', '--pack-destination', tarballs, ...workspaces],
          {
            cwd: ROOT,
            timeout: STEP_TIMEOUT_MS,
          },
        );
        for (const result of JSON.parse(stdout) as PackResult[]) packed.set(result.name, result);
        await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
        const env = { ...process.env, ...(await localSqlitePrebuild(join(dir, 'prebuilds'))) };
        const files = PACKAGES.map((p) => join(tarballs, packed.get(`@localpush/${p}`)?.filename ?? `${p}?`));
        await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...files], {
          cwd: app,
          env,
          timeout: INSTALL_TIMEOUT_MS,
          maxBuffer: 16 * 1024 * 1024,
        });
        // Compiling better-sqlite3 (when the local prebuild does not fit) takes a minute or two alone.
      },
      { timeout: INSTALL_TIMEOUT_MS + 60_000 },
    );
    after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

    it('each tarball holds its build and no tests', (t) => {
      if (!available) return t.skip('skipped: npm is not on PATH');
      const expected: Record<string, string[]> = {
        '@localpush/protocol': ['dist/index.js', 'dist/index.d.ts', 'dist/link.js', 'vectors/'],
        '@localpush/client': ['dist/index.js', 'dist/index.d.ts'],
        '@localpush/server': ['dist/index.js', 'dist/testing.js', 'dist/testing.d.ts', 'src/demo/public/'],
        '@localpush/cli': ['bin/localpush.js', 'dist/main.js'],
      };
      for (const [name, wanted] of Object.entries(expected)) {
        const paths = packed.get(name)?.files.map((f) => f.path) ?? [];
        for (const path of wanted) {
          assert.ok(
            paths.some((p) => (path.endsWith('/') ? p.startsWith(path) : p === path)),
            `${name} lacks ${path}`,
          );
        }
        const stray = paths.filter((p) => p.startsWith('test/') || /\.test\.(js|ts)$/.test(p));
        assert.deepEqual(stray, [], `${name} ships tests`);
      }
    });

    it('npx localpush --help prints the usage', async (t) => {
      if (!available) return t.skip('skipped: npm is not on PATH');
      const { stdout } = await exec('npx', ['--no-install', 'localpush', '--help'], {
        cwd: app,
        timeout: STEP_TIMEOUT_MS,
      });
      assert.match(stdout, /^Usage: localpush <command>/m);
      assert.match(stdout, /\bserve\b/);
    });

    it('npx localpush serve on free ports answers /healthz, and stops on SIGTERM', async (t) => {
      if (!available) return t.skip('skipped: npm is not on PATH');
      const { child, api, stderr } = await startServe(app, join(dir, 'data'));
      try {
        const response = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
        assert.equal(response.status, 200, await response.text());
      } finally {
        // npx passes the signal on and then ends by it; the server under it shuts down by itself, and
        // the pipes close once every process of the group has exited.
        const closed = once(child.stderr!, 'close');
        const exited = once(child, 'exit');
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
        const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
        await closed;
        assert.ok(code === 0 || signal === 'SIGTERM', `npx ended with ${code ?? signal}: ${stderr()}`);
      }
      assert.match(stderr(), /shutting down/, 'serve did not shut down on SIGTERM');
      assert.doesNotMatch(stderr(), /internal error|^\s+at .+:\d+:\d+\)?$/m, 'serve printed a failure');
    });
  },
);
