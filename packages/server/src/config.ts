/**
 * Server configuration: defaults, validation, and parsing of human-written values ("20s", "1MiB").
 * Validation happens here, once, at the edge; the rest of the server trusts a ServerConfig.
 */
import { z } from 'zod';
import { LocalpushError, ServerErrorCode } from './errors.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, kb: 1000, mib: 1024 ** 2, mb: 1000 ** 2 };

/** Parses "250ms", "20s", "5m", "1h", "7d" or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration (examples: 500ms, 20s, 5m, 1h)`);
  return Math.round(Number(match[1]) * (DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()] ?? 1));
}

/** Parses "65536", "64KiB", "1MiB", "1MB". */
export function parseSize(text: string): number {
  const match = /^\s*(\d+)\s*(b|kib|kb|mib|mb)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a size (examples: 65536, 64KiB, 1MiB)`);
  return Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1);
}

const port = z.number().int().min(0).max(65535);
const optionalPort = port.nullable();

const apnsKeySchema = z
  .object({
    teamId: z.string().min(1),
    keyId: z.string().min(1),
    /** Path of the AuthKey_<keyId>.p8 file or of its public key (PEM). */
    path: z.string().min(1),
    environments: z.array(z.enum(['production', 'development'])).optional(),
    /** Bundle ids this key may push to; absent = any. Others are refused with TopicDisallowed. */
    topics: z.array(z.string().min(1)).optional(),
  })
  .strict();

const apnsFallbackSchema = z
  .object({
    teamId: z.string().min(1),
    keyId: z.string().min(1),
    /** Path of the AuthKey_<keyId>.p8 used to sign provider tokens towards APNs. */
    privateKeyPath: z.string().min(1),
    environment: z.enum(['production', 'development']),
    /** `http://[user:pass@]host:port` CONNECT proxy towards APNs. */
    proxy: z.string().min(1).optional(),
    /** Origin override (`https://host:port`), for a local APNs stand-in. */
    endpoint: z.string().url().optional(),
  })
  .strict();

export const serverConfigSchema = z
  .object({
    /** Where the certificate, provider key and database live. */
    dataDir: z.string().min(1),
    /** Address the device listeners bind. */
    host: z.string().min(1),
    /** TLS device port (length-prefixed frames). */
    tlsPort: port,
    /** WebSocket device port, or null for none. */
    wsPort: optionalPort,
    /** Serve the WebSocket port with TLS (wss://). */
    wsTls: z.boolean(),
    /** Plain TCP device port (no TLS), or null for none: development and benchmarks only. */
    tcpPort: optionalPort,
    /** Address the HTTP API binds; loopback by default so the provider key never crosses a network unasked. */
    apiHost: z.string().min(1),
    apiPort: port,
    store: z.enum(['sqlite', 'memory']),
    /**
     * SQLite durability: `normal` survives a crash of the process (the WAL is on disk before a 2xx);
     * `full` also survives power loss and OS crashes, at the cost of an fsync per group commit.
     */
    durability: z.enum(['normal', 'full']),
    heartbeatIntervalMs: z.number().int().min(1_000).max(3_600_000),
    heartbeatGraceMs: z.number().int().min(500).max(600_000),
    helloTimeoutMs: z.number().int().min(500).max(120_000),
    maxFrameBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024),
    maxWriteQueueBytes: z
      .number()
      .int()
      .min(16 * 1024)
      .max(256 * 1024 * 1024),
    maxQueuePerDevice: z.number().int().min(1).max(1_000_000),
    defaultTtlSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400),
    ackTimeoutMs: z.number().int().min(100).max(3_600_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /**
     * SimplePush compatibility (docs/simplepush.md): the sample app's control and notification TLS ports,
     * bound on `host`; null (the default) leaves it off.
     */
    simplepush: z.object({ controlPort: port, notificationPort: port }).strict().nullable(),
    /** APNs-compatible endpoint (h2 over TLS + HTTP/1.1), or null for none. See docs/apns.md. */
    apnsPort: optionalPort,
    /** Cleartext HTTP/2 (prior knowledge) twin of the APNs endpoint, or null for none. */
    apnsH2cPort: optionalPort,
    /** How long the APNs endpoint waits for the local device's ack before falling back. */
    apnsAckTimeoutMs: z.number().int().min(50).max(60_000),
    /** An endpoint connection idle this long is closed with GOAWAY {"reason":"IdleTimeout"}, as APNs does. */
    apnsIdleTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .max(24 * 3_600_000),
    /** The environment the APNs endpoint plays (for keys restricted to one environment). */
    apnsEnvironment: z.enum(['production', 'development']),
    /** Provider-token keys the APNs endpoint accepts, per team and key id (.p8 or its public key). */
    apnsKeys: z.array(apnsKeySchema),
    /** Real APNs as the fallback, or null: messages then stay in the local queue. */
    apnsFallback: apnsFallbackSchema.nullable(),
  })
  .strict();

export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** Defaults; the reasons for the heartbeat figures are in docs/protocol.md [LP-5]. */
export const DEFAULT_CONFIG: ServerConfig = {
  dataDir: '.localpush',
  host: '0.0.0.0',
  tlsPort: 7701,
  wsPort: 7702,
  wsTls: true,
  tcpPort: null,
  apiHost: '127.0.0.1',
  apiPort: 7700,
  store: 'sqlite',
  durability: 'normal',
  heartbeatIntervalMs: 20_000,
  heartbeatGraceMs: 10_000,
  helloTimeoutMs: 10_000,
  maxFrameBytes: 64 * 1024,
  maxWriteQueueBytes: 1024 * 1024,
  maxQueuePerDevice: 1000,
  defaultTtlSeconds: 7 * 86_400,
  ackTimeoutMs: 30_000,
  logLevel: 'info',
  simplepush: null,
  apnsPort: null,
  apnsH2cPort: null,
  apnsAckTimeoutMs: 2_000,
  apnsIdleTimeoutMs: 3_600_000,
  apnsEnvironment: 'development',
  apnsKeys: [],
  apnsFallback: null,
};

/** The sample's ports, used when SimplePush is turned on without ports of its own. */
export const DEFAULT_SIMPLEPUSH_PORTS = { controlPort: 5060, notificationPort: 3000 } as const;

/** Merges overrides into the defaults and validates the result, naming every bad field. */
export function resolveConfig(overrides: Partial<ServerConfig>): ServerConfig {
  const merged = { ...DEFAULT_CONFIG, ...stripUndefined(overrides) };
  const result = serverConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`,
    );
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      `invalid configuration — ${problems.join('; ')}`,
    );
  }
  return result.data;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
