/** The engine's outward contracts beyond types.ts: its dependencies, its closed error, its full surface. */
import type { Clock } from '@localpush/protocol';
import type { ListOptions, Store, StoredMessage } from '../store/types.js';
import type { DeliveryEngineOptions } from './options.js';
import type { DeliveryEngine, SendOutcome, SendRequest, SessionListener } from './types.js';

/** Minimal logger shape (pino satisfies it). */
export interface EngineLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What {@link createDeliveryEngine} needs. */
export interface DeliveryEngineDeps {
  store: Store;
  clock: Clock;
  logger?: EngineLogger;
  options?: Partial<DeliveryEngineOptions>;
  /**
   * Other writers enqueue for the same devices (the nodes of a cluster share the store): a message is
   * written straight from its enqueue result only when its seq follows the last one written; after a
   * gap the backlog is read from the store, so a device never sees its seqs out of order (its resume
   * cursor and cumulative acks would otherwise acknowledge the message it skipped).
   */
  sharedStore?: boolean;
  /** Called for every push not acked within ackTimeoutMs on its connection (see onAckTimeout). */
  onAckTimeout?: (message: StoredMessage) => void;
}

/** Thrown by submit and friends once {@link DeliveryEngineImpl.close} was called. */
export class EngineClosedError extends Error {
  override readonly name = 'EngineClosedError';
  constructor() {
    super('the delivery engine is closed');
  }
}

/** The engine as the server wires it: the DeliveryEngine and SessionListener contracts plus extras. */
/** What the caller of {@link DeliveryEngineImpl.submit} knows that the engine cannot. */
export interface SubmitHints {
  /**
   * The device holds a live session on another node of a cluster: a now-or-never push (expiration 0) is
   * stored for that node to write at once, instead of expired as for a device offline everywhere.
   */
  readonly onlineElsewhere?: boolean;
}

export interface DeliveryEngineImpl extends DeliveryEngine, SessionListener {
  submit(request: SendRequest, hints?: SubmitHints): Promise<SendOutcome>;
  /**
   * Follows pushes that were not acked within ackTimeoutMs on the connection they were written to. The
   * message stays stored and is written again on that connection right after the listeners were told
   * (unless one of them settled it: the listener may hand it to APNs with {@link fallBack}); a
   * connection that closed first leaves it to the device's next session. [LP-6.8]
   */
  onAckTimeout(listener: (message: StoredMessage) => void): () => void;
  /** Settles an undelivered message as `fallen_back` (handed to another path). Undefined when not undelivered. */
  fallBack(messageId: string, detail: string): Promise<StoredMessage | undefined>;
  /** A device's messages, newest first. */
  listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]>;
  /**
   * Whether the engine is feeding a live session of the device: its delivery state, which follows the
   * session directory's events. Who is connected is the directory's to say (presence/types.ts).
   */
  isOnline(deviceId: string): boolean;
  /**
   * Messages for the device were stored by someone else (another node of a cluster accepted them): feed
   * its live session from the store, as if they had been submitted here. Nothing when it has none.
   */
  refill(deviceId: string): void;
  /** Number of pending ack waiters (submitAndWait); for tests and metrics. */
  readonly waiterCount: number;
  /** Resolves when no device operation or sweep is queued or running (for tests). */
  idle(): Promise<void>;
  /** Stops the sweep and ack timers, settles every waiter with `timeout`, waits for running operations. */
  close(): Promise<void>;
}
