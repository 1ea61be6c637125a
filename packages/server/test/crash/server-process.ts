/**
 * Child-process entry of the crash test: starts a real server (startServer, the same code `localpush
 * serve` runs) with the configuration given as JSON in argv[2], and prints where it listens, its pin and
 * its provider key as one JSON line on stdout. It runs until it is killed — the test's SIGKILL is the
 * point — or until its stdin closes, so that a test runner that dies itself never leaves a server behind.
 */
import type { ServerConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';

/** The line this script prints once the server listens. */
export interface ServerProcessInfo {
  pid: number;
  tlsPort: number;
  apiPort: number;
  pin: string;
  providerKey: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Partial<ServerConfig>;
const server = await startServer(config);
const info: ServerProcessInfo = {
  pid: process.pid,
  tlsPort: server.addresses.tls.port,
  apiPort: server.addresses.api.port,
  pin: server.identity.spkiPin,
  providerKey: server.providerKey,
};
process.stdout.write(`${JSON.stringify(info)}\n`);

/** The line printed on SIGUSR2: memory after a full collection, when the child runs with --expose-gc. */
export interface ServerMemoryReport {
  memory: {
    gc: boolean;
    rss: number;
    heapUsed: number;
    heapTotal: number;
    external: number;
    arrayBuffers: number;
  };
}

// The bench's memory figures must not count garbage that simply was not collected yet: on SIGUSR2 the
// child collects (twice, so that objects freed by finalisers of the first pass go too) and prints its
// memory as one JSON line. SIGUSR1 is Node's inspector signal, hence USR2.
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    gc();
    gc();
  }
  const usage = process.memoryUsage();
  const report: ServerMemoryReport = {
    memory: {
      gc: typeof gc === 'function',
      rss: usage.rss,
      heapUsed: usage.heapUsed,
      heapTotal: usage.heapTotal,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
    },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.close({ drainTimeoutMs: 200 }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
// SIGTERM is the test's clean-up path (the crash itself is SIGKILL, which cannot be caught).
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
