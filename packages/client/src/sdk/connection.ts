/**
 * The narrow view of the transport that LocalPushProvider needs. DeviceClient (../connection/) satisfies
 * it structurally; tests pass a scripted fake. Keeping it narrow means the SDK does not depend on the
 * transport's internals, only on these few members.
 */
import type { Clock, Push } from '@localpush/protocol';

/** What LocalPushProvider passes when it opens a connection. */
export interface PushConnectionOptions {
  url: string;
  deviceId: string;
  credential: string;
  /** Certificate pin (see the transport's docs for the format). */
  pin?: string;
  /** PEM CA bundle for private servers. */
  ca?: string;
  clock?: Clock;
  /** Awaited before the push is acknowledged, so an ack means "shown to the user". */
  onPush: (push: Push) => void | Promise<void>;
}

/**
 * A listener as EventEmitter declares it. `any[]` rather than `unknown[]` so that an EventEmitter subclass
 * (DeviceClient) is assignable to PushConnection: EventEmitter's own signature uses `any[]`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ConnectionListener = (...args: any[]) => void;

/** A persistent connection to a localpush server. */
export interface PushConnection {
  /** Begins connecting; DeviceClient returns at once and keeps (re)connecting in the background. */
  start(): void | Promise<void>;
  stop(): Promise<void>;
  /** Drops the current connection and dials again. */
  reconnect(): void | Promise<void>;
  /** True when no heartbeat arrived within the expected interval (the seed's `lastCheckinTime` check). */
  isStale(now?: number): boolean;
  /** Subscribes to transport events (`state`, `connectionError`, `goaway`…), used only for logging. */
  on(event: string, listener: ConnectionListener): unknown;
  /** Unsubscribes. */
  off(event: string, listener: ConnectionListener): unknown;
}

/** Opens a connection; may be async so that the transport can be imported lazily. */
export type PushConnectionFactory = (
  options: PushConnectionOptions,
) => PushConnection | Promise<PushConnection>;

/**
 * The default factory: a real DeviceClient from the transport layer (../connection/), imported on first
 * use so that a worker running some other provider never loads the transport. Assigning the DeviceClient
 * to PushConnection here is also the compile-time check that the transport still fits this interface.
 */
export const connectDeviceClient: PushConnectionFactory = async (options) => {
  const { DeviceClient } = await import('../connection/client.js');
  const client: PushConnection = new DeviceClient(options);
  return client;
};
