/** `localpush serve`: starts the server with zero configuration and tells the person how to use it. */
import { join, resolve } from 'node:path';
import {
  DEFAULT_CONFIG,
  DEFAULT_SIMPLEPUSH_PORTS,
  parseDuration,
  parseSize,
  type ServerConfig,
} from '../config.js';
import { startServer, type RunningServer } from '../server.js';
import { APNS_FLAGS, APNS_FLAGS_HELP, apnsConfigFromFlags } from '../apns/cli-flags.js';
import {
  CliError,
  DEFAULT_API_URL,
  DEFAULT_DATA_DIR,
  EXIT,
  dataDirFrom,
  parseFlags,
  requireInteger,
  type CliIo,
} from './common.js';

export const SERVE_HELP = `Usage: localpush serve [options]

Starts the push server. With no options it keeps everything in ./.localpush: a self-signed TLS
certificate (devices pin its public key), the provider key for the HTTP API, and the SQLite database.

Options:
  --data-dir <dir>            data directory (default ./.localpush, or $LOCALPUSH_DATA_DIR)
  --host <addr>               address for device listeners (default ${DEFAULT_CONFIG.host})
  --tls-port <n>              TLS device port (default ${DEFAULT_CONFIG.tlsPort}; 0 = any free port)
  --ws-port <n>               WebSocket device port (default ${DEFAULT_CONFIG.wsPort}); --no-ws to disable
  --ws-plain                  serve ws:// instead of wss:// (behind a TLS proxy, or for local demos)
  --tcp-port <n>              also accept plain TCP devices (no TLS) on this port — development only
  --api-host <addr>           address for the HTTP API (default ${DEFAULT_CONFIG.apiHost})
  --api-port <n>              HTTP API port (default ${DEFAULT_CONFIG.apiPort})
  --store <sqlite|memory>     message store (default sqlite; memory loses everything on restart)
  --durability <normal|full>  normal survives a crash of the process; full also power loss (default normal)
  --heartbeat-interval <t>    heartbeat interval (default 20s)
  --heartbeat-grace <t>       time a device has to answer a heartbeat (default 10s)
  --max-queue <n>             undelivered messages kept per device (default ${DEFAULT_CONFIG.maxQueuePerDevice})
  --max-frame <size>          largest frame (default 64KiB)
  --ack-timeout <t>           a sent message not acknowledged by then counts as not delivered (default 30s)
  --log-level <level>         fatal|error|warn|info|debug|trace|silent (default info; logs go to stderr)
  --simplepush                serve Apple's SimplePush sample app too (TLS ports 5060 and 3000 on --host);
                              prints the pin to paste into the app. See docs/simplepush.md
  --simplepush-ports <c,n>    SimplePush control and notification ports (implies --simplepush)
${APNS_FLAGS_HELP}  -h, --help                  show this help
`;

const FLAGS = {
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  'tls-port': { type: 'string' },
  'ws-port': { type: 'string' },
  'no-ws': { type: 'boolean' },
  'ws-plain': { type: 'boolean' },
  'tcp-port': { type: 'string' },
  'api-host': { type: 'string' },
  'api-port': { type: 'string' },
  store: { type: 'string' },
  durability: { type: 'string' },
  'heartbeat-interval': { type: 'string' },
  'heartbeat-grace': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-frame': { type: 'string' },
  'ack-timeout': { type: 'string' },
  'log-level': { type: 'string' },
  ...APNS_FLAGS,
  simplepush: { type: 'boolean' },
  'simplepush-ports': { type: 'string' },
} as const;

function measure<T>(flag: string, value: string | undefined, parse: (text: string) => T): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (error) {
    throw new CliError(`--${flag}: ${(error as Error).message}`, EXIT.usage);
  }
}

/** `--simplepush` and `--simplepush-ports c,n` → the `simplepush` config key (undefined: off). */
function simplePushFromFlags(
  on: boolean | undefined,
  ports: string | undefined,
): ServerConfig['simplepush'] | undefined {
  if (ports === undefined) return on ? { ...DEFAULT_SIMPLEPUSH_PORTS } : undefined;
  const [control = '', notification = '', extra] = ports.split(',').map((p) => p.trim());
  if (extra !== undefined || control === '' || notification === '') {
    throw new CliError(
      `--simplepush-ports takes two ports, "control,notification", got "${ports}"`,
      EXIT.usage,
    );
  }
  return {
    controlPort:
      requireInteger('simplepush-ports', control, 0, 65535) ?? DEFAULT_SIMPLEPUSH_PORTS.controlPort,
    notificationPort:
      requireInteger('simplepush-ports', notification, 0, 65535) ?? DEFAULT_SIMPLEPUSH_PORTS.notificationPort,
  };
}

/** Turns serve's flags into configuration overrides. Exported for tests. */
export function serveConfigFromFlags(args: string[], io: CliIo): Partial<ServerConfig> | 'help' {
  const { values } = parseFlags('serve', args, FLAGS);
  if (values.help) return 'help';
  const store = values.store;
  if (store !== undefined && store !== 'sqlite' && store !== 'memory') {
    throw new CliError(`--store must be sqlite or memory, got "${store}"`, EXIT.usage);
  }
  const durability = values.durability;
  if (durability !== undefined && durability !== 'normal' && durability !== 'full') {
    throw new CliError(`--durability must be normal or full, got "${durability}"`, EXIT.usage);
  }
  const logLevel = values['log-level'];
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
  if (logLevel !== undefined && !(levels as readonly string[]).includes(logLevel)) {
    throw new CliError(`--log-level must be one of ${levels.join(', ')}, got "${logLevel}"`, EXIT.usage);
  }
  return {
    dataDir: dataDirFrom(values['data-dir'], io),
    host: values.host,
    tlsPort: requireInteger('tls-port', values['tls-port'], 0, 65535),
    wsPort: values['no-ws'] ? null : requireInteger('ws-port', values['ws-port'], 0, 65535),
    wsTls: values['ws-plain'] ? false : undefined,
    tcpPort: requireInteger('tcp-port', values['tcp-port'], 0, 65535),
    apiHost: values['api-host'],
    apiPort: requireInteger('api-port', values['api-port'], 0, 65535),
    store,
    durability,
    heartbeatIntervalMs: measure('heartbeat-interval', values['heartbeat-interval'], parseDuration),
    heartbeatGraceMs: measure('heartbeat-grace', values['heartbeat-grace'], parseDuration),
    maxQueuePerDevice: requireInteger('max-queue', values['max-queue'], 1, 1_000_000),
    maxFrameBytes: measure('max-frame', values['max-frame'], parseSize),
    ackTimeoutMs: measure('ack-timeout', values['ack-timeout'], parseDuration),
    logLevel: logLevel as ServerConfig['logLevel'] | undefined,
    ...apnsConfigFromFlags(values),
    simplepush: simplePushFromFlags(values.simplepush, values['simplepush-ports']),
  };
}

/** The banner: where everything is and the next two commands to try. */
export function describeServer(server: RunningServer): string {
  const { addresses, config, identity } = server;
  const show = (a: { host: string; port: number }) =>
    `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  const local = (a: { host: string; port: number }) =>
    `${a.host === '0.0.0.0' || a.host === '::' ? '127.0.0.1' : a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  // The suggested commands must reach this server even when it is not on the defaults.
  const apiUrl = `http://${local(addresses.api)}`;
  const toServer =
    (apiUrl === DEFAULT_API_URL ? '' : ` --api ${apiUrl}`) +
    (config.dataDir === resolve(DEFAULT_DATA_DIR) ? '' : ` --data-dir ${config.dataDir}`);
  const lines = [
    'localpush is running',
    `  devices, TLS        tls://${show(addresses.tls)}`,
    addresses.ws
      ? `  devices, WebSocket  ${config.wsTls ? 'wss' : 'ws'}://${show(addresses.ws)}/v1/connect`
      : undefined,
    addresses.tcp
      ? `  devices, plain TCP  tcp://${show(addresses.tcp)}  (no TLS: development only)`
      : undefined,
    `  HTTP API            http://${show(addresses.api)}  (OpenAPI at /openapi.json, metrics at /metrics)`,
    addresses.apns
      ? `  APNs-compatible     https://${local(addresses.apns)}/3/device/<token>  (h2 + HTTP/1.1${addresses.apnsH2c ? `; h2c on ${show(addresses.apnsH2c)}` : ''}; APNs fallback ${config.apnsFallback ? 'on' : 'off: undelivered stays queued'})`
      : undefined,
    `  data directory      ${config.dataDir}  (${config.store} store)`,
    `  certificate pin     ${identity.spkiPin}  (SHA-256 of the public key, base64)`,
    `  provider key        ${server.providerKey}  (${join(config.dataDir, 'provider.key')})`,
    server.simplepush
      ? `  SimplePush          control tls://${show(server.simplepush.listener.control)}, notification tls://${show(server.simplepush.listener.notification)}\n` +
        `  SimplePush pin      ${server.simplepush.pin}  (paste into the sample's app and extension)`
      : undefined,
    `  heartbeats          every ${config.heartbeatIntervalMs / 1000} s, answered within ${config.heartbeatGraceMs / 1000} s`,
    '',
    'Try the whole loop from a second terminal in this directory:',
    `  npx localpush device add --id my-device${toServer}   # prints the credential and a listen command`,
    `  npx localpush listen --device my-device --credential <credential> --url tls://${local(addresses.tls)}` +
      (config.dataDir === resolve(DEFAULT_DATA_DIR) ? '' : ` --data-dir ${config.dataDir}`),
    `  npx localpush send --to my-device${toServer} "hello from localpush"   # from a third terminal`,
    '',
    'Stop with Ctrl-C: devices get a goaway and reconnect by themselves when the server is back.',
  ];
  return `${lines.filter((l) => l !== undefined).join('\n')}\n`;
}

export async function serve(args: string[], io: CliIo): Promise<number> {
  const overrides = serveConfigFromFlags(args, io);
  if (overrides === 'help') {
    io.stdout(SERVE_HELP);
    return EXIT.ok;
  }
  const server = await startServer(overrides);
  io.stdout(describeServer(server));
  await io.untilInterrupted();
  io.stderr('shutting down: telling devices to reconnect later…\n');
  await server.close();
  return EXIT.ok;
}
