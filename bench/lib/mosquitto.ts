/**
 * A Mosquitto of the bench's own: the `mosquitto` binary with a configuration written here, a plain and a
 * TLS listener on free loopback ports, the TLS one with the same certificate and key the localpush server
 * of the run uses (bench/lib/server.ts, benchIdentity). Never the machine's shared broker on 1883: its
 * state and its other clients are not the bench's, and its CPU cannot be told apart from theirs. Being a
 * child of the bench, its pid is known, so its CPU per message and its RSS are read from /proc like the
 * server's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { benchIdentity, freePort, readRss } from './server.js';
import { sleep } from './stats.js';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'];

/** The broker binary, or undefined when this machine has none (the Mosquitto rows are then skipped). */
export function mosquittoBinary(): string | undefined {
  const fromEnv = process.env.MOSQUITTO_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found !== undefined) return found;
  const which = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  const path = which.stdout.trim();
  return which.status === 0 && path !== '' ? path : undefined;
}

export interface MosquittoProcess {
  readonly pid: number;
  readonly tcpPort: number;
  readonly tlsPort: number;
  readonly version: string;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

function version(binary: string): string {
  const out = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  return /mosquitto version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

async function listening(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}`);
    await sleep(20);
  }
}

/**
 * Starts a broker. QoS 1 messages of persistent sessions are kept in memory: Mosquitto writes its
 * persistence file on a timer or at exit, never per message, so no setting makes it durable per message
 * as the sqlite store is — it is compared as it is run in practice, `persistence false`.
 */
export async function startMosquitto(binary: string): Promise<MosquittoProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'localpush-bench-mosquitto-'));
  const identity = await benchIdentity();
  const tcpPort = await freePort();
  const tlsPort = await freePort();
  const config = [
    // Started as root, Mosquitto would switch to the user "mosquitto", which cannot read the bench's
    // identity (owner-only files, as the server keeps them): it stays the user that ran the bench.
    `user ${userInfo().username}`,
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    // As the localpush server of the bench (maxQueuePerDevice 100,000): nothing is dropped at full speed.
    'max_queued_messages 100000',
    'max_inflight_messages 0',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    `listener ${tcpPort} 127.0.0.1`,
    `listener ${tlsPort} 127.0.0.1`,
    `certfile ${identity.certPath}`,
    `keyfile ${identity.keyPath}`,
    '',
  ].join('\n');
  const configPath = join(dir, 'mosquitto.conf');
  await writeFile(configPath, config);
  const child: ChildProcess = spawn(binary, ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  try {
    const deadline = Date.now() + 10_000;
    await Promise.race([
      Promise.all([listening(tcpPort, deadline), listening(tlsPort, deadline)]),
      exited.then(() => {
        throw new Error(`mosquitto exited: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = child.pid ?? -1;
  return {
    pid,
    tcpPort,
    tlsPort,
    version: version(binary),
    rss: () => readRss(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
