/**
 * `localpush demo`: one command for a chat-and-call demo in the browser. It starts the whole server with
 * a memory store in a throw-away data directory, SimplePush on (so the sample app can join), a plain
 * WebSocket listener for the browsers, and serves the page from the HTTP API. Loopback by default: the
 * page enrols devices without the provider key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SIMPLEPUSH_PORTS, type ServerConfig } from '@localpush/server';
import { demoPlugin } from '@localpush/server';
import { WEBSOCKET_PATH } from '@localpush/server';
import { startServer, type RunningServer } from '@localpush/server';
import { CliError, EXIT, parseFlags, requireInteger, type CliIo } from './common.js';

export const DEMO_HELP = `Usage: localpush demo [options]

Starts a demo: the server (memory store, nothing kept), SimplePush on, and a web page where people
chat and place calls (audio simulated) from their browsers, with Apple's SimplePush sample app too.
Open the printed address in two browser windows, pick a name in each, and talk.

Options:
  --host <addr>               address to bind (default 127.0.0.1; anyone who reaches the page can join)
  --port <n>                  the page and HTTP API (default 7780)
  --ws-port <n>               WebSocket port the browsers connect to (default 7782)
  --simplepush-ports <c,n>    SimplePush control and notification ports (default 5060,3000)
  --no-simplepush             leave SimplePush off
  -h, --help                  show this help
`;

const FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'ws-port': { type: 'string' },
  'simplepush-ports': { type: 'string' },
  'no-simplepush': { type: 'boolean' },
} as const;

/** Where the demo listens. */
export interface DemoOptions {
  host: string;
  apiPort: number;
  wsPort: number;
  simplepush: ServerConfig['simplepush'];
}

/** A running demo: the server, the page's address, and how to stop it (which also removes its data). */
export interface RunningDemo {
  server: RunningServer;
  url: string;
  close(): Promise<void>;
}

/** Starts the demo server. Exported for tests, which pass port 0 everywhere. */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const dataDir = await mkdtemp(join(tmpdir(), 'localpush-demo-'));
  // The WebSocket port is known once the server is up; the join route reads it then.
  const ws: { port: number | undefined } = { port: undefined };
  let server: RunningServer;
  try {
    server = await startServer(
      {
        dataDir,
        host: options.host,
        apiHost: options.host,
        tlsPort: 0,
        wsPort: options.wsPort,
        wsTls: false,
        apiPort: options.apiPort,
        store: 'memory',
        logLevel: 'warn',
        simplepush: options.simplepush,
      },
      {
        plugins: [demoPlugin({ wsPort: () => ws.port, wsPath: WEBSOCKET_PATH })],
      },
    );
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  ws.port = server.addresses.ws?.port;
  const { host, port } = server.addresses.api;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shown}:${port}/demo/`,
    async close() {
      await server.close({ drainTimeoutMs: 1_000 });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function simplePushPorts(text: string | undefined): ServerConfig['simplepush'] {
  if (text === undefined) return { ...DEFAULT_SIMPLEPUSH_PORTS };
  const [control = '', notification = '', extra] = text.split(',').map((p) => p.trim());
  if (extra !== undefined || control === '' || notification === '') {
    throw new CliError(`--simplepush-ports takes "control,notification", got "${text}"`, EXIT.usage);
  }
  return {
    controlPort: requireInteger('simplepush-ports', control, 0, 65535) ?? 0,
    notificationPort: requireInteger('simplepush-ports', notification, 0, 65535) ?? 0,
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export async function demo(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('demo', args, FLAGS);
  if (values.help) {
    io.stdout(DEMO_HELP);
    return EXIT.ok;
  }
  const host = values.host ?? '127.0.0.1';
  const running = await startDemo({
    host,
    apiPort: requireInteger('port', values.port, 0, 65535) ?? 7780,
    wsPort: requireInteger('ws-port', values['ws-port'], 0, 65535) ?? 7782,
    simplepush: values['no-simplepush'] ? null : simplePushPorts(values['simplepush-ports']),
  });
  const sp = running.server.simplepush;
  const lines = [
    'localpush demo is running',
    `  open ${running.url} in two browser windows, pick a name in each, and chat or call`,
    sp
      ? `  SimplePush sample: control port ${sp.listener.control.port}, notification port ${sp.listener.notification.port}, pin ${sp.pin}`
      : undefined,
    isLoopback(host)
      ? undefined
      : `  warning: bound to ${host}: anyone who can reach the page can enrol a device. Use it on a trusted network only.`,
    '  nothing is kept: the data lives in a temporary directory removed on exit. Stop with Ctrl-C.',
  ];
  io.stdout(`${lines.filter((l) => l !== undefined).join('\n')}\n`);
  await io.untilInterrupted();
  await running.close();
  return EXIT.ok;
}
