/**
 * Real Redis processes for tests: a standalone server, a 3-master Redis Cluster and sentinels, each on
 * free loopback ports with a temporary directory of its own, stopped by the pid this helper started
 * (never by name, and never the machine's shared Redis on 6379).
 *
 * When no `redis-server` binary is on PATH, `redisSkipReason()` says so, and tests report themselves as
 * skipped with that reason instead of failing (`.ci/run` installs Debian's package when it can).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type AppendFsync = 'always' | 'everysec' | 'no';

export interface RedisProcessOptions {
  /** AOF on with this fsync policy (default `always`); `off` runs with no persistence at all. */
  appendfsync?: AppendFsync | 'off';
  /** Extra `--name value` arguments. */
  args?: string[];
  /** Reuse this directory (to restart over the same AOF); otherwise a new temporary one. */
  dir?: string;
  /** Reuse this port (to restart on the same address). */
  port?: number;
}

export interface RedisProcess {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly pid: number;
  /** Sends a signal to this process (SIGKILL for a crash); resolves when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the process if it still runs and removes its directory unless it was given one. */
  stop(): Promise<void>;
}

/** Why Redis tests cannot run here, or undefined when `redis-server` and `redis-cli` are on PATH. */
export function redisSkipReason(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
    if (found.status !== 0) {
      return `skipped: no ${binary} on PATH (install Debian's redis-server and redis-tools; .ci/run does)`;
    }
  }
  return undefined;
}

const live = new Set<ChildProcess>();
// A test runner that exits without its after() hooks must not leave servers behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A TCP port free on 127.0.0.1 right now, low enough that port + 10000 (the cluster bus) is valid. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    if (port > 1024 && port + 10_000 <= 65_535 && port !== 6379) return port;
  }
}

/** Starts `redis-server` on a free port (AOF with appendfsync always unless told otherwise). */
export async function startRedis(options: RedisProcessOptions = {}): Promise<RedisProcess> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'localpush-redis-')));
  const port = options.port ?? (await freePort());
  const fsync = options.appendfsync ?? 'always';
  const persistence =
    fsync === 'off' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', fsync];
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
    ...persistence,
    ...(options.args ?? []),
  ];
  const child = spawnTracked('redis-server', args);
  await untilPong(port, child);
  return processHandle(child, port, dir, ownDir);
}

function spawnTracked(binary: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function processHandle(child: ChildProcess, port: number, dir: string, ownDir: boolean): RedisProcess {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: child.pid ?? -1,
    kill,
    async stop() {
      await kill('SIGKILL');
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the server answers PING with PONG; rejects when it exits first or after 10 s. */
async function untilPong(port: number, child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis on port ${port} exited before answering: ${stderr.trim()}`);
    }
    if ((await command(port, 'PING').catch(() => '')).startsWith('+PONG')) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`redis on port ${port} did not answer PING within 10 s: ${stderr.trim()}`);
}

/** Sends one inline command and returns the first reply chunk (enough for PING and CLUSTER INFO). */
export function command(port: number, line: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply to ${line} on port ${port}`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString());
    });
    socket.write(`${line}\r\n`);
  });
}

export interface RedisClusterProcess {
  readonly nodes: RedisProcess[];
  /** `host:port` of every master, for `--redis-cluster` / the store's `cluster` option. */
  readonly addresses: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Starts `masters` cluster-enabled servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedis({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await untilClusterOk(nodes);
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  return {
    nodes,
    addresses: nodes.map((n) => ({ host: n.host, port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

async function untilClusterOk(nodes: readonly RedisProcess[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const states = await Promise.all(nodes.map((n) => command(n.port, 'CLUSTER INFO').catch(() => '')));
    if (states.every((s) => s.includes('cluster_state:ok'))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the Redis Cluster did not reach cluster_state:ok within 20 s');
}

export interface RedisSentinels {
  readonly sentinels: RedisProcess[];
  /** `host:port` of every sentinel, for `redis+sentinel://…`. */
  readonly addresses: { host: string; port: number }[];
  /** The master's name as the sentinels know it. */
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Starts `count` sentinels watching the master on `masterPort` under `name`, with a quorum of a
 * majority, marking it down after `downAfterMs` without answers (fast, for tests).
 */
export async function startSentinels(
  masterPort: number,
  options: { count?: number; name?: string; downAfterMs?: number } = {},
): Promise<RedisSentinels> {
  const count = options.count ?? 3;
  const name = options.name ?? 'localpush';
  const sentinels: RedisProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'localpush-sentinel-'));
      const port = await freePort();
      const conf = join(dir, 'sentinel.conf');
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const child = spawnTracked('redis-server', [conf, '--sentinel']);
      await untilPong(port, child);
      sentinels.push(processHandle(child, port, dir, true));
    }
  } catch (error) {
    await Promise.all(sentinels.map((s) => s.stop()));
    throw error;
  }
  return {
    sentinels,
    addresses: sentinels.map((s) => ({ host: s.host, port: s.port })),
    name,
    stop: async () => {
      await Promise.all(sentinels.map((s) => s.stop()));
    },
  };
}

/** Resolves once the replica on `replicaPort` is connected to its master and through the first sync. */
export async function untilReplicaInSync(replicaPort: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await command(replicaPort, 'INFO replication').catch(() => '')).includes('master_link_status:up')
  ) {
    if (Date.now() > deadline)
      throw new Error(`the replica on ${replicaPort} did not sync in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
