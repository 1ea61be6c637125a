/**
 * Every option of `localpush serve`, declared once. From this table come the configuration's type and
 * its validation in code (zod), its defaults, the command-line flags, the environment variables
 * (`LOCALPUSH_` and the flag in upper snake case), the config-file keys (the flag's name), `serve --help`
 * and docs/cli.md. **Adding an option is adding one entry here** (and reading it where it is used).
 *
 * Defaults that other modules own (the connection's, the engine's) are imported from them, so that each
 * figure is written in one place.
 */
import { DEFAULT_HEARTBEAT } from '@localpush/protocol';
import { z } from 'zod';
import { DEFAULT_ENGINE_OPTIONS } from '../engine/options.js';
import { DEFAULT_ADMISSION_LIMITS } from '../gateway/admission.js';
import { DEFAULT_CONNECTION_OPTIONS } from '../gateway/connection.js';
import { DEFAULT_FLAPPING_RECONNECTS, DEFAULT_HEALTH_LIMITS } from '../health/tracker.js';
import {
  choice,
  duration,
  durationSeconds,
  flagSwitch,
  integer,
  optionalPort,
  path,
  port,
  size,
  text,
  type Kind,
  type ReadContext,
} from './kinds.js';
import { redisTarget, type RedisTarget } from './redis.js';

/** One option: its kind, default and help, and how it is spelled everywhere else. */
export interface ConfigOption<T> {
  readonly kind: Kind<T>;
  readonly default: NoInfer<T>;
  /** The flag without dashes; the config-file key and (upper snake case) the environment variable too. */
  readonly flag: string;
  /** One line of help; " (default …)" is added unless `showDefault` is false. */
  readonly help: string;
  readonly showDefault?: boolean;
  /** How the value is written in help when the kind's own name is too long (`<level>`). */
  readonly valueName?: string;
  /** Heading of the group the option is listed under in help and docs. */
  readonly group: OptionGroup;
  /** Switches that set the option to a fixed value (`--no-ws`); the option's own flag wins over them. */
  readonly aliases?: readonly { flag: string; help: string; value: T }[];
}

export const OPTION_GROUPS = ['Server', 'Redis', 'Devices', 'Delivery', 'SimplePush', 'APNs'] as const;
export type OptionGroup = (typeof OPTION_GROUPS)[number];

function option<T>(spec: ConfigOption<T>): ConfigOption<T> {
  return spec;
}

const ENVIRONMENTS = ['production', 'development'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** How log lines are written: `auto` is readable on a terminal and JSON otherwise (logger.ts). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

// ── the structured values: SimplePush ports and APNs keys ─────────────────────────────────────────────

/** The sample's ports, used when SimplePush is turned on without ports of its own. */
export const DEFAULT_SIMPLEPUSH_PORTS = { controlPort: 5060, notificationPort: 3000 } as const;

const simplePushSchema = z.object({ controlPort: port().schema, notificationPort: port().schema }).strict();
type SimplePushPorts = z.infer<typeof simplePushSchema>;

/** "control,notification" (or a two-element list in a file) → SimplePush on, on those ports; null = off. */
function simplePushPorts(): Kind<SimplePushPorts | null> {
  const one = port();
  const pair = (parts: unknown[], shown: string, context: ReadContext): SimplePushPorts => {
    const [control, notification, ...extra] = parts;
    if (extra.length > 0 || control === undefined || control === '' || notification === '')
      throw new Error(`must be two ports, "control,notification", got "${shown}"`);
    return {
      controlPort: one.fromFile(control, context),
      notificationPort: one.fromFile(notification, context),
    };
  };
  return {
    schema: simplePushSchema.nullable(),
    valueName: '<c,n>',
    parse: (value, context) =>
      pair(
        value.split(',').map((p) => p.trim()),
        value,
        context,
      ),
    fromFile: (value, context) => {
      if (value === false) return null;
      if (Array.isArray(value)) return pair(value, JSON.stringify(value), context);
      if (typeof value === 'string')
        return pair(
          value.split(',').map((p) => p.trim()),
          value,
          context,
        );
      throw new Error('must be "control,notification", a list of two ports, or false');
    },
    show: (value) => (value === null ? 'off' : `${value.controlPort},${value.notificationPort}`),
    toFile: (value) => (value === null ? false : [value.controlPort, value.notificationPort]),
  };
}

const apnsKeySchema = z
  .object({
    teamId: z.string().min(1),
    keyId: z.string().min(1),
    /** Path of the AuthKey_<keyId>.p8 file or of its public key (PEM). */
    path: z.string().min(1),
    environments: z.array(z.enum(ENVIRONMENTS)).optional(),
    /** Bundle ids this key may push to; absent = any. Others are refused with TopicDisallowed. */
    topics: z.array(z.string().min(1)).optional(),
  })
  .strict();
type ApnsKeyConfig = z.infer<typeof apnsKeySchema>;

const apnsFallbackSchema = z
  .object({
    teamId: z.string().min(1),
    keyId: z.string().min(1),
    /** Path of the AuthKey_<keyId>.p8 used to sign provider tokens towards APNs. */
    privateKeyPath: z.string().min(1),
    /**
     * Where a token nobody registered here is forwarded (the endpoint then fronts APNs); filled from
     * `apnsEnvironment` when not given. A registered token always goes to the environment it was
     * registered for.
     */
    environment: z.enum(ENVIRONMENTS).optional(),
    /** `http://[user:pass@]host:port` CONNECT proxy towards APNs. */
    proxy: z.string().min(1).optional(),
    /** Origin override (`https://host:port`) for both environments: a local APNs stand-in. */
    endpoint: z.string().url().optional(),
    /** Origin overrides per environment; win over `endpoint`. */
    endpoints: z
      .object({ production: z.string().url().optional(), development: z.string().url().optional() })
      .strict()
      .optional(),
  })
  .strict();
type ApnsFallbackConfig = z.infer<typeof apnsFallbackSchema>;

/** `<team id>:<key id>:<path>` (the path may itself hold colons). */
function keySpec(spec: string, context: ReadContext): { teamId: string; keyId: string; path: string } {
  const [teamId = '', keyId = '', ...rest] = spec.split(':');
  const file = rest.join(':');
  if (teamId === '' || keyId === '' || file === '')
    throw new Error(`takes <team id>:<key id>:<path of the .p8>, got "${spec}"`);
  return { teamId, keyId, path: path().parse(file, context) };
}

/** A file value that is a spec string or a table checked by `schema` (paths made absolute). */
function specOrTable<T>(
  value: unknown,
  context: ReadContext,
  fromSpec: (spec: string) => T,
  schema: z.ZodType<T>,
  pathKey: string,
): T {
  if (typeof value === 'string') return fromSpec(value);
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(
      `must be "<team id>:<key id>:<path>" or a table: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join('; ')}`,
    );
  const table = parsed.data as Record<string, unknown>;
  const file = table[pathKey];
  return (typeof file === 'string' ? { ...table, [pathKey]: path().parse(file, context) } : table) as T;
}

/** Provider-token keys accepted by the APNs endpoint: a repeatable flag, a comma-separated variable. */
function apnsKeys(): Kind<ApnsKeyConfig[]> {
  return {
    schema: z.array(apnsKeySchema),
    valueName: '<team>:<kid>:<path>',
    multiple: true,
    parse: (value, context) =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => keySpec(s, context)),
    fromFile: (value, context) => {
      const list = Array.isArray(value) ? (value as unknown[]) : [value];
      return list.map((item) =>
        specOrTable(item, context, (s) => keySpec(s, context), apnsKeySchema, 'path'),
      );
    },
    show: (keys) =>
      keys.length === 0 ? 'none' : keys.map((k) => `${k.teamId}:${k.keyId}:${k.path}`).join(', '),
    toFile: (keys) => keys,
  };
}

/** The real-APNs fallback: `<team>:<kid>:<path of the .p8>`, or a table in a file; null = off. */
function apnsFallback(): Kind<ApnsFallbackConfig | null> {
  const fromSpec = (spec: string, context: ReadContext): ApnsFallbackConfig => {
    const { teamId, keyId, path: privateKeyPath } = keySpec(spec, context);
    return { teamId, keyId, privateKeyPath };
  };
  return {
    schema: apnsFallbackSchema.nullable(),
    valueName: '<team>:<kid>:<path>',
    parse: fromSpec,
    fromFile: (value, context) =>
      value === false
        ? null
        : specOrTable(value, context, (s) => fromSpec(s, context), apnsFallbackSchema, 'privateKeyPath'),
    show: (value) => (value === null ? 'off' : `${value.teamId}:${value.keyId}:${value.privateKeyPath}`),
    toFile: (value) => (value === null ? false : value),
  };
}

/** A PEM file's path, or null (none): made absolute like {@link path}. */
function optionalFile(valueName: string): Kind<string | null> {
  const inner = path();
  return {
    schema: inner.schema.nullable(),
    valueName,
    parse: (value, context) => inner.parse(value, context),
    fromFile: (value, context) => (value === false ? null : inner.fromFile(value, context)),
    show: (value) => value ?? 'none',
    toFile: (value) => (value === null ? false : value),
  };
}

// ── the table ─────────────────────────────────────────────────────────────────────────────────────────

const connection = DEFAULT_CONNECTION_OPTIONS;
const engine = DEFAULT_ENGINE_OPTIONS;

/** Every option of the server, by its key in {@link ServerConfig}. Listed in help in this order. */
export const SERVER_OPTIONS = {
  dataDir: option({
    kind: path(),
    default: '.localpush',
    flag: 'data-dir',
    help: 'where the certificate, the provider key and the database live',
    group: 'Server',
  }),
  store: option({
    kind: choice(['sqlite', 'memory', 'redis']),
    default: 'sqlite',
    flag: 'store',
    help: 'message store; memory loses everything on restart; redis is shared by several nodes (docs/cluster.md)',
    group: 'Server',
  }),
  durability: option({
    kind: choice(['normal', 'full']),
    default: 'normal',
    flag: 'durability',
    help: 'normal survives a crash of the process; full also power loss (an fsync per group commit)',
    group: 'Server',
  }),
  redis: option<RedisTarget | null>({
    kind: redisTarget(),
    default: null,
    flag: 'redis',
    help: 'the Redis store: redis://host:port[/db], redis+sentinel://host:port,…[/master] or redis+cluster://host:port,…; implies --store redis',
    showDefault: false,
    group: 'Redis',
  }),
  redisPrefix: option({
    kind: text('<prefix>'),
    default: 'lp',
    flag: 'redis-prefix',
    help: 'prefix of every key, so that several deployments can share one Redis',
    group: 'Redis',
  }),
  redisWaitReplicas: option({
    kind: integer(0, 16),
    default: 0,
    flag: 'redis-wait-replicas',
    help: 'answer a write only once this many replicas have it (Redis WAIT); 0 = do not wait',
    group: 'Redis',
  }),
  redisWaitTimeoutMs: option({
    kind: duration(1, 60_000),
    default: 1_000,
    flag: 'redis-wait-timeout',
    help: 'how long to wait for those replicas before answering 503',
    group: 'Redis',
  }),
  apiHost: option({
    kind: text('<addr>'),
    default: '127.0.0.1',
    flag: 'api-host',
    help: 'address for the HTTP API; loopback, so the provider key never crosses a network unasked',
    group: 'Server',
  }),
  apiPort: option({ kind: port(), default: 7700, flag: 'api-port', help: 'HTTP API port', group: 'Server' }),
  logLevel: option({
    kind: choice(LOG_LEVELS),
    default: 'info',
    flag: 'log-level',
    valueName: '<level>',
    help: `${LOG_LEVELS.join('|')}; logs go to stderr (debug also prints the stack of a start-up failure)`,
    group: 'Server',
  }),
  logFormat: option({
    kind: choice(LOG_FORMATS),
    default: 'auto',
    flag: 'log-format',
    valueName: '<format>',
    help: 'auto|json|pretty: JSON lines, or readable ones; auto is readable on a terminal and JSON otherwise',
    group: 'Server',
  }),
  accessLog: option({
    kind: flagSwitch(z.boolean(), true, false),
    default: false,
    flag: 'access-log',
    help: 'log one line per HTTP API request (method, path, status, time, request id)',
    showDefault: false,
    group: 'Server',
  }),
  host: option({
    kind: text('<addr>'),
    default: '0.0.0.0',
    flag: 'host',
    help: 'address for the device listeners (and SimplePush, APNs)',
    group: 'Devices',
  }),
  cert: option<string | null>({
    kind: optionalFile('<file>'),
    default: null,
    flag: 'cert',
    help: "TLS certificate (PEM, the leaf then its chain) for the device, wss, APNs and SimplePush listeners, instead of the data directory's self-signed one; with --key. SIGHUP reloads both (docs/operating.md#certificates)",
    showDefault: false,
    group: 'Devices',
  }),
  key: option<string | null>({
    kind: optionalFile('<file>'),
    default: null,
    flag: 'key',
    help: "the certificate's private key (PEM, unencrypted); with --cert",
    showDefault: false,
    group: 'Devices',
  }),
  certExpiryWarningMs: option({
    kind: duration(3_600_000, 3650 * 86_400_000),
    default: 30 * 86_400_000,
    flag: 'cert-expiry-warning',
    help: 'log LP_CERT_EXPIRING (at start, on reload and daily) when the served certificate expires within this',
    group: 'Devices',
  }),
  tlsPort: option({
    kind: port(),
    default: 7701,
    flag: 'tls-port',
    help: 'TLS device port (0 = any free port)',
    group: 'Devices',
  }),
  wsPort: option<number | null>({
    kind: optionalPort(),
    default: 7702,
    flag: 'ws-port',
    help: 'WebSocket device port ("off" for none)',
    group: 'Devices',
    aliases: [{ flag: 'no-ws', help: 'no WebSocket device port', value: null }],
  }),
  wsTls: option({
    kind: flagSwitch(z.boolean(), false, true),
    default: true,
    flag: 'ws-plain',
    help: 'serve ws:// instead of wss:// (behind a TLS proxy, or for local demos)',
    showDefault: false,
    group: 'Devices',
  }),
  tcpPort: option<number | null>({
    kind: optionalPort(),
    default: null,
    flag: 'tcp-port',
    help: 'also accept plain TCP devices (no TLS) on this port — development only',
    showDefault: false,
    group: 'Devices',
  }),
  heartbeatIntervalMs: option({
    kind: duration(1_000, 3_600_000),
    default: DEFAULT_HEARTBEAT.intervalMs,
    flag: 'heartbeat-interval',
    help: 'heartbeat interval [LP-5.1]',
    group: 'Devices',
  }),
  heartbeatGraceMs: option({
    kind: duration(500, 600_000),
    default: DEFAULT_HEARTBEAT.graceMs,
    flag: 'heartbeat-grace',
    help: 'time a device has to answer a heartbeat [LP-5.3]',
    group: 'Devices',
  }),
  helloTimeoutMs: option({
    kind: duration(500, 120_000),
    default: connection.helloTimeoutMs,
    flag: 'hello-timeout',
    help: 'time from accept to an authenticated hello, TLS handshake and upgrade included (and for SimplePush registration, the APNs TLS handshake), however the peer trickles its bytes [LP-4.2]',
    group: 'Devices',
  }),
  maxUnauthenticated: option({
    kind: integer(1, 1_000_000),
    default: DEFAULT_ADMISSION_LIMITS.maxPending,
    flag: 'max-unauthenticated',
    help: 'connections not yet authenticated, on every listener together; at the cap a stale one is dropped, else the new one refused',
    group: 'Devices',
  }),
  maxUnauthenticatedPerAddress: option({
    kind: integer(1, 1_000_000),
    default: DEFAULT_ADMISSION_LIMITS.maxPendingPerAddress,
    flag: 'max-unauthenticated-per-address',
    help: 'the same from one address (an IPv6 /64); raise it behind a proxy or NAT that many devices share',
    group: 'Devices',
  }),
  authThrottleAfter: option({
    kind: integer(0, 1_000_000),
    default: DEFAULT_ADMISSION_LIMITS.failuresBeforeDelay,
    flag: 'auth-throttle-after',
    help: 'failed hellos from one address after which its hellos wait, longer after each failure (0 = never)',
    group: 'Devices',
  }),
  maxFrameBytes: option({
    kind: size(1024, 16 * 1024 * 1024),
    default: connection.maxFrameBytes,
    flag: 'max-frame',
    help: 'largest frame [LP-2.3]',
    group: 'Devices',
  }),
  maxWriteQueueBytes: option({
    kind: size(16 * 1024, 256 * 1024 * 1024),
    default: connection.maxWriteQueueBytes,
    flag: 'max-write-queue',
    help: 'hard bound on bytes queued for one connection (pushes wait far below it; replies the device asks for count) [LP-7.2]',
    group: 'Devices',
  }),
  slowConsumerTimeoutMs: option({
    kind: duration(100, 600_000),
    default: engine.slowConsumerTimeoutMs,
    flag: 'slow-consumer-timeout',
    help: 'a device with pushes waiting that drains no bytes and acknowledges nothing for this long is dropped as a slow consumer [LP-7.2]',
    group: 'Devices',
  }),
  flappingReconnects: option({
    kind: integer(1, DEFAULT_HEALTH_LIMITS.sessions - 1),
    default: DEFAULT_FLAPPING_RECONNECTS,
    flag: 'flapping-reconnects',
    help: 'reconnects within an hour from which a device is reported as flapping (GET /v1/health/devices, localpush doctor --server)',
    group: 'Devices',
  }),
  maxQueuePerDevice: option({
    kind: integer(1, 1_000_000),
    default: engine.maxQueuePerDevice,
    flag: 'max-queue',
    help: 'undelivered messages kept per device; the oldest overflow',
    group: 'Delivery',
  }),
  defaultTtlSeconds: option({
    kind: durationSeconds(1, 365 * 86_400),
    default: engine.defaultTtlSeconds,
    flag: 'default-ttl',
    help: 'time to live of a message sent without an expiration',
    group: 'Delivery',
  }),
  ackTimeoutMs: option({
    kind: duration(100, 3_600_000),
    default: engine.ackTimeoutMs,
    flag: 'ack-timeout',
    help: 'a push not acknowledged by then is written again on the device\'s connection (a second "sent" receipt) [LP-6.8]',
    group: 'Delivery',
  }),
  retentionMs: option({
    kind: duration(60_000, 10 * 365 * 86_400_000),
    default: 7 * 86_400_000,
    flag: 'retention',
    help: 'settled messages (acked, expired, fallen back, collapsed, overflowed) and their receipts are deleted this long after they settled, a small batch at a time (docs/operating.md#retention)',
    group: 'Delivery',
  }),
  simplepush: option<SimplePushPorts | null>({
    kind: simplePushPorts(),
    default: null,
    flag: 'simplepush-ports',
    help: "serve Apple's SimplePush sample app on these TLS control and notification ports (see docs/simplepush.md)",
    showDefault: false,
    group: 'SimplePush',
    aliases: [
      {
        flag: 'simplepush',
        help: `the same on the sample's ports, ${DEFAULT_SIMPLEPUSH_PORTS.controlPort} and ${DEFAULT_SIMPLEPUSH_PORTS.notificationPort}; prints the pin for the app`,
        value: { ...DEFAULT_SIMPLEPUSH_PORTS },
      },
    ],
  }),
  apnsPort: option<number | null>({
    kind: optionalPort(),
    default: null,
    flag: 'apns-port',
    help: 'serve the APNs-compatible endpoint (POST /3/device/<token>, h2 + HTTP/1.1 over TLS) on this port; off by default (see docs/apns.md)',
    showDefault: false,
    group: 'APNs',
  }),
  apnsH2cPort: option<number | null>({
    kind: optionalPort(),
    default: null,
    flag: 'apns-h2c-port',
    help: 'also serve it as cleartext HTTP/2 (prior knowledge) on this port',
    showDefault: false,
    group: 'APNs',
  }),
  apnsAckTimeoutMs: option({
    kind: duration(50, 60_000),
    default: 2_000,
    flag: 'apns-ack-timeout',
    help: "wait this long for the device's ack before falling back",
    group: 'APNs',
  }),
  apnsIdleTimeoutMs: option({
    kind: duration(1_000, 24 * 3_600_000),
    default: 3_600_000,
    flag: 'apns-idle-timeout',
    help: 'an endpoint connection idle this long is closed with GOAWAY {"reason":"IdleTimeout"}, as APNs does',
    group: 'APNs',
  }),
  apnsEnvironment: option({
    kind: choice(ENVIRONMENTS),
    default: 'development',
    flag: 'apns-environment',
    valueName: '<env>',
    help: 'production|development: the environment the endpoint plays (and the fallback forwards to)',
    group: 'APNs',
  }),
  apnsKeys: option<ApnsKeyConfig[]>({
    kind: apnsKeys(),
    default: [],
    flag: 'apns-key',
    help: 'accept provider tokens signed by this .p8 key (or its public key); repeatable. The provider key is accepted as a bearer token too',
    showDefault: false,
    group: 'APNs',
  }),
  apnsFallback: option<ApnsFallbackConfig | null>({
    kind: apnsFallback(),
    default: null,
    flag: 'apns-fallback',
    help: 'forward to real APNs with this .p8 key when the local path fails; without it, undelivered notifications stay queued until they expire',
    showDefault: false,
    group: 'APNs',
  }),
} as const;

/**
 * Options that are read like the others but land inside another one when the layers are assembled:
 * `apns-proxy` becomes the fallback's `proxy`.
 */
export const ASSEMBLED_OPTIONS = {
  apnsProxy: option<string>({
    kind: text('<url>'),
    default: '',
    flag: 'apns-proxy',
    help: 'reach APNs through this HTTP CONNECT proxy (http://[user:pass@]host:port)',
    showDefault: false,
    group: 'APNs',
  }),
} as const;

type Shape = { [K in keyof typeof SERVER_OPTIONS]: (typeof SERVER_OPTIONS)[K]['kind']['schema'] };

function shapeOf(): Shape {
  return Object.fromEntries(Object.entries(SERVER_OPTIONS).map(([key, o]) => [key, o.kind.schema])) as Shape;
}

/** The configuration's schema, for values given in code. */
export const serverConfigSchema = z.object(shapeOf()).strict();

/** The server's configuration: what {@link resolveConfig} returns and the rest of the server trusts. */
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** A key of {@link ServerConfig}. */
export type ConfigKey = keyof ServerConfig;

/** What the layers (file, environment, flags) hold: configuration keys and the assembled ones. */
export type ConfigSettings = Partial<ServerConfig> & { apnsProxy?: string };
export type SettingKey = keyof ConfigSettings;

/** Every option, the assembled ones included, by key. */
export const ALL_OPTIONS: Readonly<Record<SettingKey, ConfigOption<unknown>>> = {
  ...SERVER_OPTIONS,
  ...ASSEMBLED_OPTIONS,
};

/** The defaults, from the table. */
export const DEFAULT_CONFIG: ServerConfig = Object.fromEntries(
  Object.entries(SERVER_OPTIONS).map(([key, o]) => [key, o.default]),
) as unknown as ServerConfig;
