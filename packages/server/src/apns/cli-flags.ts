/**
 * `localpush serve`'s APNs flags, parsed here so that serve.ts only declares and forwards them.
 */
import { parseDuration, type ServerConfig } from '../config.js';
import { CliError, EXIT, requireInteger } from '../cli/common.js';

/** The flag declarations, for parseArgs (spread into serve's FLAGS). */
export const APNS_FLAGS = {
  'apns-port': { type: 'string' },
  'apns-h2c-port': { type: 'string' },
  'apns-ack-timeout': { type: 'string' },
  'apns-key': { type: 'string', multiple: true },
  'apns-environment': { type: 'string' },
  'apns-fallback': { type: 'string' },
  'apns-proxy': { type: 'string' },
} as const;

/** The help lines for {@link APNS_FLAGS}. */
export const APNS_FLAGS_HELP = `  --apns-port <n>             serve the APNs-compatible endpoint (POST /3/device/<token>, h2 + HTTP/1.1
                              over TLS) on this port; off by default. See docs/apns.md
  --apns-h2c-port <n>         also serve it as cleartext HTTP/2 (prior knowledge) on this port
  --apns-ack-timeout <t>      wait this long for the device's ack before falling back (default 2s)
  --apns-key <team>:<kid>:<path>  accept provider tokens signed by this .p8 key (or its public key);
                              repeatable. The provider key is accepted as a bearer token too
  --apns-environment <env>    production|development: the environment the endpoint plays (default development)
  --apns-fallback <team>:<kid>:<path>  forward to real APNs with this .p8 key when the local path fails;
                              without it, undelivered notifications stay queued until they expire
  --apns-proxy <url>          reach APNs through this HTTP CONNECT proxy (http://[user:pass@]host:port)
`;

/** The parsed values of {@link APNS_FLAGS}. */
export interface ApnsFlagValues {
  'apns-port'?: string | undefined;
  'apns-h2c-port'?: string | undefined;
  'apns-ack-timeout'?: string | undefined;
  'apns-key'?: string[] | undefined;
  'apns-environment'?: string | undefined;
  'apns-fallback'?: string | undefined;
  'apns-proxy'?: string | undefined;
}

/** Turns the APNs flags into configuration overrides (undefined where a flag is absent). */
export function apnsConfigFromFlags(values: ApnsFlagValues): Partial<ServerConfig> {
  const environment = values['apns-environment'];
  if (environment !== undefined && environment !== 'production' && environment !== 'development') {
    throw new CliError(
      `--apns-environment must be production or development, got "${environment}"`,
      EXIT.usage,
    );
  }
  let ackTimeout: number | undefined;
  if (values['apns-ack-timeout'] !== undefined) {
    try {
      ackTimeout = parseDuration(values['apns-ack-timeout']);
    } catch (error) {
      throw new CliError(`--apns-ack-timeout: ${(error as Error).message}`, EXIT.usage);
    }
  }
  const fallbackFlag = values['apns-fallback'];
  let apnsFallback: ServerConfig['apnsFallback'] | undefined;
  if (fallbackFlag !== undefined) {
    const { teamId, keyId, path } = keySpec('apns-fallback', fallbackFlag);
    apnsFallback = {
      teamId,
      keyId,
      privateKeyPath: path,
      // The fallback talks to the environment the endpoint plays, so tokens stay valid end to end.
      environment: environment ?? 'development',
      ...(values['apns-proxy'] !== undefined ? { proxy: values['apns-proxy'] } : {}),
    };
  } else if (values['apns-proxy'] !== undefined) {
    throw new CliError('--apns-proxy needs --apns-fallback', EXIT.usage);
  }
  return {
    apnsPort: requireInteger('apns-port', values['apns-port'], 0, 65535),
    apnsH2cPort: requireInteger('apns-h2c-port', values['apns-h2c-port'], 0, 65535),
    apnsAckTimeoutMs: ackTimeout,
    apnsEnvironment: environment,
    apnsKeys: values['apns-key']?.map((spec) => {
      const { teamId, keyId, path } = keySpec('apns-key', spec);
      return { teamId, keyId, path };
    }),
    apnsFallback,
  };
}

function keySpec(flag: string, spec: string): { teamId: string; keyId: string; path: string } {
  const [teamId = '', keyId = '', ...rest] = spec.split(':');
  const path = rest.join(':');
  if (teamId === '' || keyId === '' || path === '') {
    throw new CliError(`--${flag} takes <team id>:<key id>:<path of the .p8>, got "${spec}"`, EXIT.usage);
  }
  return { teamId, keyId, path };
}
