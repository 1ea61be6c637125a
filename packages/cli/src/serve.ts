/** `localpush serve`: starts the server with zero configuration and tells the person how to use it. */
import { join, resolve } from 'node:path';
import {
  ConfigError,
  assemble,
  flagDeclarations,
  layerFromFlags,
  loadServerConfig,
  renderOptionsHelp,
  type EffectiveConfig,
  type ServerConfig,
} from '@localpush/server';
import { startServer, type RunningServer } from '@localpush/server';
import { CliError, DEFAULT_API_URL, DEFAULT_DATA_DIR, EXIT, parseFlags, type CliIo } from './common.js';

export const SERVE_HELP = `Usage: localpush serve [options]

Starts the push server. With no options it keeps everything in ./.localpush: a self-signed TLS
certificate (devices pin its public key), the provider key for the HTTP API, and the SQLite database.

Every option can also be set in the environment, as LOCALPUSH_ and the flag in upper snake case
(--tls-port 7701 is LOCALPUSH_TLS_PORT=7701), or in a TOML config file named by --config (or
LOCALPUSH_CONFIG), whose keys are the flags' names (tls-port = 7701). A flag wins over the environment,
which wins over the file, which wins over the default. "localpush config init" writes a commented file
of every option with its default; "localpush config check" shows the values in force and their sources.

Exit status: 0 once stopped with Ctrl-C or SIGTERM; 1 when the server cannot start (one line: the code,
what failed, the port, file or option, and the fix; docs/errors.md); 2 for a configuration mistake.

Options:
  --config <file>             read options from this TOML file
  -h, --help                  show this help
${renderOptionsHelp()}`;

const FLAGS = { ...flagDeclarations(), config: { type: 'string' } } as const;

/** A configuration mistake as a usage error (exit 2), keeping its code and every problem. */
function asUsage(error: unknown): unknown {
  return error instanceof ConfigError ? new CliError(error.problems, EXIT.usage, error.code) : error;
}

/**
 * Parses serve's command line (also `config check`'s): how to read the flag layer — later, so that its
 * mistakes are reported with the file's and the environment's — and the config file it names, or 'help'.
 */
export function parseServeFlags(command: string, args: string[]) {
  const { values } = parseFlags(command, args, FLAGS);
  if (values.help) return 'help' as const;
  const { config, help: _help, ...rest } = values as Record<string, string | boolean | string[] | undefined>;
  return { flags: () => layerFromFlags(rest), configFile: config as string | undefined };
}

/** The configuration serve's flags give by themselves (without environment or file). For tests. */
export function serveConfigFromFlags(args: string[], _io: CliIo): Partial<ServerConfig> | 'help' {
  const parsed = parseServeFlags('serve', args);
  if (parsed === 'help') return 'help';
  try {
    const flags = parsed.flags();
    return assemble(flags.values, flags.where);
  } catch (error) {
    throw asUsage(error);
  }
}

/** serve's effective configuration: flags over LOCALPUSH_* over the config file over the defaults. */
export async function serveConfig(args: string[], io: CliIo): Promise<EffectiveConfig | 'help'> {
  const parsed = parseServeFlags('serve', args);
  if (parsed === 'help') return 'help';
  try {
    return await loadServerConfig({ flags: parsed.flags, env: io.env, configFile: parsed.configFile });
  } catch (error) {
    throw asUsage(error);
  }
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
  // A certificate of the site's own is not in the data directory, where listen would look for the pin.
  const fromFiles = server.certificate.from.origin === 'files';
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
    `  certificate pin     ${identity.spkiPin}  (SHA-256 of the public key, base64${fromFiles ? `; ${server.certificate.from.certPath}` : ''})`,
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
      (fromFiles
        ? ` --pin ${identity.spkiPin}`
        : config.dataDir === resolve(DEFAULT_DATA_DIR)
          ? ''
          : ` --data-dir ${config.dataDir}`),
    `  npx localpush send --to my-device${toServer} "hello from localpush"   # from a third terminal`,
    '',
    'Stop with Ctrl-C: devices get a goaway and reconnect by themselves when the server is back.',
  ];
  return `${lines.filter((l) => l !== undefined).join('\n')}\n`;
}

/**
 * SIGHUP: the configuration is read again (file, environment, flags) and the server applies what can
 * change live — the certificate and key above all (docs/operating.md#certificates). A bad configuration
 * or certificate leaves everything as it was.
 */
export async function reload(server: RunningServer, args: string[], io: CliIo): Promise<void> {
  let next: EffectiveConfig | 'help';
  try {
    next = await serveConfig(args, io);
  } catch (error) {
    io.stderr(`reload refused, nothing changed: ${(error as Error).message}
`);
    return;
  }
  if (next === 'help') return;
  const { certificate, applied, needsRestart } = await server.reload(next.config);
  if (certificate.applied)
    io.stdout(
      `reloaded: certificate pin ${certificate.spkiPin}${certificate.changed ? ' (new)' : ''}, valid until ` +
        `${new Date(certificate.notAfter).toISOString()}${applied.length > 0 ? `; applied ${applied.join(', ')}` : ''}
`,
    );
  else
    io.stderr(
      `reload: ${certificate.error.code}: ${certificate.error.message}; still serving the old certificate
`,
    );
  if (needsRestart.length > 0)
    io.stderr(`reload: ${needsRestart.join(', ')} changed; they apply at the next restart
`);
}

export async function serve(args: string[], io: CliIo): Promise<number> {
  const effective = await serveConfig(args, io);
  if (effective === 'help') {
    io.stdout(SERVE_HELP);
    return EXIT.ok;
  }
  const server = await startServer(effective.config);
  io.stdout(describeServer(server));
  const stopReloads = io.onHangup?.(() => void reload(server, args, io));
  await io.untilInterrupted();
  stopReloads?.();
  io.stderr('shutting down: telling devices to reconnect later…\n');
  await server.close();
  return EXIT.ok;
}
