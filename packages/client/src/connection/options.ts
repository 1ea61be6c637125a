/**
 * The options and events of a `DeviceClient`, apart from its implementation so that the SDK layer
 * and tools can import the vocabulary cheaply.
 */
import type { Clock, Goaway, Heartbeat, HelloNetwork, Notice, Push, Welcome } from '@localpush/protocol';
import { DEFAULT_HEARTBEAT } from '@localpush/protocol';
import type { BackoffOptions } from './backoff.js';
import type { HostLookup } from './endpoints.js';
import type { ClientError } from './errors.js';
import type { ClientState, StopReason } from './states.js';
import type { WebSocketConstructor } from './transports.js';

/** Options of a {@link DeviceClient}. */
export interface DeviceClientOptions {
  /**
   * The server: `tls://host:port`, `tcp://host:port` (plaintext, tests/dev), `ws://host:port/path` or
   * `wss://…`. Give this or {@link urls}.
   */
  url?: string;
  /**
   * Several servers (the nodes of a cluster), instead of `url`. The client walks them in its own random
   * order: it moves on to the next at once when an attempt fails or a node sends goaway, and waits out the
   * back-off only after every one failed in a row. A tls/tcp host name stands for every address it
   * resolves to. Pins and CA apply to each.
   */
  urls?: readonly string[];
  /** Resolves a tls/tcp host name to all its addresses; default `dns.lookup(name, { all: true })`. */
  lookup?: HostLookup;
  /** The device's id, as registered with the server. [LP-4.4] */
  deviceId: string;
  /** The device's secret; sent only after the transport is verified (pin or CA). */
  credential: string;
  /** Base64 SHA-256 of the server certificate's SPKI; with a pin, CA, host name and expiry are ignored. */
  pin?: string | string[];
  /** CA certificate(s), PEM, for normal verification when there is no pin. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** TLS server name (SNI and verification); defaults to the URL's host when it is a name. */
  servername?: string;
  /** Time and timers; default the system clock. Tests pass a ManualClock. */
  clock?: Clock;
  /** Source of jitter and of the endpoints' order, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Reconnect back-off window: default 500 ms doubling up to 30 s, full jitter. */
  backoff?: BackoffOptions;
  /** How many processed push ids to remember for duplicate detection. Default 4096. */
  dedupeWindow?: number;
  /** The last seq the app processed in an earlier run; sent as the hello's resume cursor. [LP-4.5] */
  resumeFrom?: number;
  /** Optional protocol features the client offers, sent in the hello. */
  capabilities?: string[];
  /** Free text naming the client software. */
  agent?: string;
  /**
   * Off by default. When set, called before every hello; what it returns (SSID, BSSID, signal) is sent
   * with the hello so the server can group connection health by access point. `wifiReporter()` reads it
   * from the system on Linux. [LP-10.4]
   */
  reportNetwork?: () => HelloNetwork | undefined;
  /** WebSocket constructor for ws/wss URLs; default `globalThis.WebSocket` (Node 22+). */
  webSocket?: WebSocketConstructor;
  /** Limit for opening the transport, and again for the welcome after the hello. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /**
   * The client's own dead-server check, on by default: a connected session from which nothing (no
   * heartbeat, no push) arrived for the welcome's heartbeat interval + grace is dropped and dialled again
   * (`LP_CLIENT_HEARTBEAT_TIMEOUT`) [LP-5.6]. `false` leaves that to the host, which then polls
   * {@link DeviceClient.isStale} and calls `reconnect()`, as an iOS provider does from its 60 s timer.
   */
  liveness?: boolean;
  /** Largest frame accepted from the server. Default 64 KiB. */
  maxFrameBytes?: number;
  /** Awaited for every new push before it is acknowledged, so an ack means "the app has it". */
  onPush?: (push: Push) => void | Promise<void>;
}

/** Default limit for opening the transport, and again for the welcome after the hello. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Heartbeat timing assumed by {@link DeviceClient.isStale} before any welcome told the real values;
 * the server's defaults. [LP-5]
 */
export const ASSUMED_HEARTBEAT: Readonly<{ intervalMs: number; graceMs: number }> = DEFAULT_HEARTBEAT;

/** The events of a {@link DeviceClient} and their arguments. */
export interface DeviceClientEvents {
  /** Every state change. */
  state: [state: ClientState, previous: ClientState];
  /** The server accepted the hello. */
  connected: [welcome: Welcome];
  /** A heartbeat arrived (and was answered). */
  heartbeat: [heartbeat: Heartbeat];
  /** A new push (duplicates are not emitted). It is acked after listeners and `onPush` finished. */
  push: [push: Push];
  /** The server reports something about the device's queue (overflow, expiry). [LP-6.7] */
  notice: [notice: Notice];
  /** The server asked the client to go; the client closes and reconnects (or stops for `replaced`). */
  goaway: [goaway: Goaway];
  /** A recoverable or fatal failure, with a stable code. Never the special 'error' event. */
  connectionError: [error: ClientError];
  /** The client entered `stopped`. */
  stopped: [reason: StopReason];
}
