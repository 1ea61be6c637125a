/**
 * The nodes' message bus over Redis pub/sub: a channel per node (a replaced or removed session is told
 * to its node) and one channel every node hears (receipts, so that a waiter, the SSE feed or the APNs
 * router on any node learns what happened on the node holding the device). On a Redis Cluster it is
 * sharded pub/sub (SSUBSCRIBE / SPUBLISH): each channel lives on the shard of its hash slot instead of
 * every message being copied to every shard.
 *
 * Messages are batched: everything sent to one channel in one turn of the event loop is one PUBLISH, so
 * a burst of receipts costs Redis one round trip, not one each. Pub/sub is at most once — a message
 * published while a node's subscription is down is lost — so the bus tells its users when it
 * (re)subscribed, and they re-check what a lost message could have told them (see relay.ts).
 */
import { Cluster } from 'ioredis';
import { createRedisClient, waitUntilReady, type RedisClient } from '../store/redis-connect.js';
import type { RedisConnectionOptions } from '../store/redis-connect.js';
import type { Receipt } from '../store/types.js';

/** What nodes tell each other. */
export type BusMessage =
  /** End the session `session` of `device` on the receiving node (`replaced` by one on `by`, or `removed`). */
  | {
      readonly t: 'evict';
      readonly device: string;
      readonly session: string;
      readonly reason: 'replaced' | 'removed';
      readonly by?: { readonly node: string; readonly session: string };
    }
  /** Receipts recorded on the sending node, in the order they were recorded. */
  | { readonly t: 'receipts'; readonly receipts: readonly Receipt[] };

/** The bus as its users see it; {@link RedisBus} is the implementation. */
export interface ClusterBus {
  readonly nodeId: string;
  /** Sends to one node (dropped silently when it is this node). */
  send(node: string, message: BusMessage): void;
  /** Sends to every other node. */
  broadcast(message: BusMessage): void;
  /** Follows messages from other nodes; returns the unsubscribe function. */
  onMessage(handler: (message: BusMessage, from: string) => void): () => void;
  /** Called after the subscription came back from an interruption (messages may have been lost). */
  onResubscribed(handler: () => void): () => void;
  close(): Promise<void>;
}

export interface RedisBusOptions {
  readonly redis: RedisConnectionOptions;
  readonly nodeId: string;
  /** Key prefix of the deployment (`--redis-prefix`): nodes of one deployment share channels. */
  readonly prefix: string;
  readonly connectTimeoutMs?: number;
  readonly logger?: { warn(obj: object, msg?: string): void };
}

interface Envelope {
  readonly f: string;
  readonly m: BusMessage[];
}

/** Opens the bus: one connection to publish, one subscribed (per shard on a Cluster). */
export async function openRedisBus(options: RedisBusOptions): Promise<RedisBus> {
  const sharded = options.redis.cluster !== undefined;
  const publisher = createRedisClient(options.redis);
  const subscriber = createRedisClient(options.redis, { shardedSubscribers: sharded });
  publisher.on('error', () => {});
  subscriber.on('error', () => {});
  try {
    const timeout = options.connectTimeoutMs ?? 10_000;
    await waitUntilReady(publisher, timeout, 'the bus');
    await waitUntilReady(subscriber, timeout, 'the bus');
    const bus = new RedisBus(publisher, subscriber, sharded, options);
    await bus.start();
    return bus;
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    throw error;
  }
}

export class RedisBus implements ClusterBus {
  readonly nodeId: string;
  private readonly handlers = new Set<(message: BusMessage, from: string) => void>();
  private readonly resubscribed = new Set<() => void>();
  /** Messages waiting for this turn's PUBLISH, by channel. */
  private readonly outbox = new Map<string, BusMessage[]>();
  private flushing = false;
  private closed = false;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly sharded: boolean,
    private readonly options: RedisBusOptions,
  ) {
    this.nodeId = options.nodeId;
  }

  /** The channel of one node; its hash tag puts each node's channel on a shard of its own. */
  channelOf(node: string): string {
    return `${this.options.prefix}:bus:{n:${node}}`;
  }

  get allChannel(): string {
    return `${this.options.prefix}:bus:{all}`;
  }

  async start(): Promise<void> {
    const onMessage = (channel: string, text: string): void => this.receive(text);
    const channels = [this.channelOf(this.nodeId), this.allChannel];
    if (this.sharded) {
      this.subscriber.on('smessage', onMessage);
      // Sharded channels of different slots are subscribed one by one (one slot per SSUBSCRIBE).
      for (const channel of channels) await this.subscriber.ssubscribe(channel);
    } else {
      this.subscriber.on('message', onMessage);
      await this.subscriber.subscribe(...channels);
    }
    let first = true;
    // ioredis resubscribes by itself after a reconnect; what was published meanwhile is gone.
    this.subscriber.on('ready', () => {
      if (first) return;
      for (const handler of [...this.resubscribed]) handler();
    });
    first = false;
  }

  send(node: string, message: BusMessage): void {
    if (node === this.nodeId) return;
    this.enqueue(this.channelOf(node), message);
  }

  broadcast(message: BusMessage): void {
    this.enqueue(this.allChannel, message);
  }

  onMessage(handler: (message: BusMessage, from: string) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onResubscribed(handler: () => void): () => void {
    this.resubscribed.add(handler);
    return () => this.resubscribed.delete(handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  private enqueue(channel: string, message: BusMessage): void {
    if (this.closed) return;
    let queue = this.outbox.get(channel);
    if (queue === undefined) {
      queue = [];
      this.outbox.set(channel, queue);
    }
    queue.push(message);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    for (const [channel, messages] of this.outbox) {
      const text = JSON.stringify({ f: this.nodeId, m: messages } satisfies Envelope);
      const published =
        this.publisher instanceof Cluster
          ? this.publisher.spublish(channel, text)
          : this.publisher.publish(channel, text);
      published.catch((error: unknown) => {
        // At most once, like pub/sub itself: the receivers re-check when their subscription returns.
        if (!this.closed) this.options.logger?.warn({ err: error, channel }, 'bus publish failed');
      });
    }
    this.outbox.clear();
  }

  private receive(text: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      return;
    }
    if (envelope.f === this.nodeId || !Array.isArray(envelope.m)) return;
    for (const message of envelope.m) {
      for (const handler of [...this.handlers]) {
        try {
          handler(message, envelope.f);
        } catch (error) {
          this.options.logger?.warn({ err: error }, 'bus handler failed');
        }
      }
    }
  }
}
