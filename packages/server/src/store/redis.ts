/**
 * The Redis store (ioredis): the Store contract on a standalone Redis, a Sentinel-watched master or a
 * Redis Cluster, so that several localpush nodes can share one copy of record. Key layout:
 * redis-keys.ts; the scripts: redis-scripts.ts; connecting and failures: redis-connect.ts.
 *
 * Every change of a device — a message accepted with its collapse, overflow and expiry schedule, a send,
 * an ack, an expiry, a removal — is one Lua script on the keys of the device's bucket (one slot), so a
 * crash of a node or of Redis never leaves half of one. What is looked up by message id alone (getMessage,
 * receipts, markFallenBack, and idempotency of an id across devices) goes through the id's claim,
 * `<prefix>:{m:<id>}` = "<device>#<generation>", which lives in another slot. The order of those steps
 * and why a crash between them is safe:
 *
 * - enqueue / recordExpired: (1) claim the id (set it if absent); (2) insert into the claimed device.
 *   A crash after (1) leaves a claim whose device has no such message: readers treat that as "no
 *   message", and the next submit of the id takes the claim over. Taking over is fenced: (a) a tombstone
 *   of the old claim's generation is written into the old device (unless the message is there: then it
 *   is a duplicate), (b) the claim is moved by compare-and-set, (c) the insert runs. An insert still in
 *   flight under the old claim finds the tombstone and starts over, so one id never ends up in two
 *   devices, whatever the interleaving.
 * - removeDevice: (1) one script deletes the device and its messages, leaving a tombstone per message
 *   id; (2) each claim is deleted if it still holds that generation; (3) the tombstones are dropped. A
 *   crash after (1) leaves claims that point at tombstones: harmless, and overwritten by reuse.
 * - Reading by id: (1) read the claim; (2) read the message in that device (absent → not found).
 *
 * Order: the engine relies on a store running a device's operations in call order. Commands on one
 * connection run in the order sent, so each operation sends its device step in call order: one that
 * must first claim an id holds back the device steps of later operations of that device until its own
 * has been sent (`DeviceOrder`). Operations without a step before it send at once.
 */
import { randomBytes } from 'node:crypto';
import { ServerErrorCode, StoreError } from '../errors.js';
import { Cluster } from 'ioredis';
import {
  createRedisClient,
  runScript,
  translateRedisError,
  waitUntilReady,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connect.js';
import {
  DEFAULT_BUCKETS,
  KeyLayout,
  claimValue,
  decodeDevice,
  decodeMessage,
  encodeDevice,
  parseClaim,
  type DecodedMessage,
  type RawHash,
} from './redis-keys.js';
import { DeviceOrder } from './redis-order.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import { RedisApnsTokens } from './redis-tokens.js';
import {
  assertDuplicate,
  closedError,
  effectiveQueueBound,
  receiptsOf,
  unknownDeviceError,
} from './rules.js';
import type { StoreLogger } from './sqlite-open.js';
import {
  ZERO_EXPIRATION_GRACE_MS,
  type AckInput,
  type ApnsTokenRecord,
  type DeviceRecord,
  type EnqueueOptions,
  type EnqueueResult,
  type ListOptions,
  type NewMessage,
  type Receipt,
  type Store,
  type StoredMessage,
} from './types.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key (default `lp`), so that several deployments can share one Redis. No braces. */
  prefix?: string;
  /** Number of device buckets when the prefix is used for the first time (default 1024); then fixed. */
  buckets?: number;
  /** How long opening waits for Redis (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Before a write resolves, wait until this many replicas have it (Redis WAIT; default 0 = do not). Fewer
   * within `waitTimeoutMs` (default 1 s) → the write rejects with LP_STORE_UNAVAILABLE: it is on the
   * master but may be lost in a failover, so the caller must not report it as accepted (docs/cluster.md).
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** Told when the connection to Redis is lost and when it is back (once each, not per retry). */
  logger?: StoreLogger;
}

/** How many times enqueue starts over when its id's claim moved under it (only under races or crashes). */
const CLAIM_ATTEMPTS = 8;
/** Bounds of one bucket's expiry script, so that a large backlog expiring at once never blocks Redis long. */
const EXPIRE_DEVICES_PER_CALL = 200;
const EXPIRE_MESSAGES_PER_CALL = 2_000;
/** Buckets one prune step visits in parallel; each deletes at most its share of the step's limit. */
const PRUNE_BUCKETS_AT_ONCE = 16;

/**
 * Connects to Redis and returns the store. Rejects with LP_STORE_UNAVAILABLE when Redis cannot be reached
 * in time, and with LP_CONFIG_INVALID when the prefix is already used with another bucket count.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.prefix ?? 'lp';
  if (prefix.length === 0 || /[{}\s]/.test(prefix)) {
    throw new StoreError(
      ServerErrorCode.CONFIG_INVALID,
      `Redis key prefix "${prefix}" must be non-empty, without braces or spaces`,
    );
  }
  const client = createRedisClient(options);
  // ioredis reports every failed reconnect as an 'error' event; operations report their own failures.
  client.on('error', () => {});
  reportConnection(client, options.logger, describeTarget(options));
  try {
    await waitUntilReady(client, options.connectTimeoutMs ?? 10_000, describeTarget(options));
    const buckets = await agreeOnBuckets(client, `${prefix}:meta`, options.buckets ?? DEFAULT_BUCKETS);
    await loadScripts(client);
    const wait = { replicas: options.waitReplicas ?? 0, timeoutMs: options.waitTimeoutMs ?? 1_000 };
    return new RedisStore(client, new KeyLayout(prefix, buckets), wait);
  } catch (error) {
    client.disconnect();
    throw translateRedisError(error);
  }
}

/** Logs a lost connection once, and its return once, instead of every failed reconnect. */
function reportConnection(client: RedisClient, logger: StoreLogger | undefined, where: string): void {
  let lost = false;
  let ready = false;
  client.on('ready', () => {
    if (lost) logger?.info({ redis: where }, 'Redis is reachable again; the store accepts operations');
    lost = false;
    ready = true;
  });
  client.on('close', () => {
    if (!ready || lost) return;
    lost = true;
    logger?.warn(
      { redis: where },
      'lost the connection to Redis: operations fail with LP_STORE_UNAVAILABLE (the API answers 503) until it is back',
    );
  });
}

function describeTarget(options: RedisConnectionOptions): string {
  if (options.cluster !== undefined)
    return `cluster ${options.cluster.map((a) => `${a.host}:${a.port}`).join(',')}`;
  if (options.sentinels !== undefined)
    return `sentinels ${options.sentinels.map((a) => `${a.host}:${a.port}`).join(',')}`;
  return (options.url ?? '').replace(/\/\/[^@/]*@/, '//***@');
}

/** The bucket count is part of the key layout: the first node to use a prefix records it, the rest follow. */
async function agreeOnBuckets(client: RedisClient, metaKey: string, wanted: number): Promise<number> {
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 65_536) {
    throw new StoreError(
      ServerErrorCode.CONFIG_INVALID,
      `Redis buckets must be an integer from 1 to 65536, got ${wanted}`,
    );
  }
  await client.hsetnx(metaKey, 'buckets', String(wanted));
  await client.hsetnx(metaKey, 'layout', '1');
  const [recorded, layout] = await client.hmget(metaKey, 'buckets', 'layout');
  if (layout !== '1') {
    throw new StoreError(
      ServerErrorCode.STORE_SCHEMA_TOO_NEW,
      `Redis prefix "${metaKey}" was written with key layout ${layout}, which this localpush does not know — run the newer version`,
    );
  }
  return Number(recorded);
}

/** Loads every script on every master up front, so EVALSHA finds them (and EVAL is only a fallback). */
async function loadScripts(client: RedisClient): Promise<void> {
  const targets = client instanceof Cluster ? client.nodes('master') : [client];
  await Promise.all(targets.flatMap((node) => Object.values(SCRIPTS).map((lua) => node.script('LOAD', lua))));
}

/** A fresh claim generation: 48 random bits, so a generation is never mistaken for another. */
function newGeneration(): string {
  return randomBytes(6).toString('base64url');
}

/** The time a message counts as expired at: the rule of rules.ts isExpiredAt, as one number. */
function dueTime(message: NewMessage): number {
  return message.expiration > 0 ? message.expiration * 1000 : message.acceptedAt + ZERO_EXPIRATION_GRACE_MS;
}

type EnqueueReply = ['unknown'] | ['fenced'] | ['dup', RawHash] | ['ok', RawHash, RawHash[], RawHash[]];

class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly order = new DeviceOrder();
  private closed = false;
  /** The WAIT that covers the writes answered in this event-loop turn (see replicated). */
  private waitRound: Promise<void> | undefined;
  private readonly tokens: RedisApnsTokens;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: KeyLayout,
    private readonly wait: { replicas: number; timeoutMs: number },
  ) {
    this.tokens = new RedisApnsTokens({
      keys,
      script: (name, scriptKeys, args) => this.script(name, scriptKeys, args),
      get: (key) => this.call(() => this.client.get(key)),
      hget: (key, field) => this.call(() => this.client.hget(key, field)),
      hgetall: (key) => this.call(() => this.client.hgetall(key)),
      deviceStep: (deviceId, send) => this.deviceStep(deviceId, send),
    });
  }

  async addDevice(device: DeviceRecord): Promise<void> {
    const k = this.keys.device(device.id);
    const added = await this.call(() => this.client.hsetnx(k.devs, device.id, encodeDevice(device)));
    if (added === 0) {
      throw new StoreError(
        ServerErrorCode.STORE_DEVICE_EXISTS,
        `device "${device.id}" is already registered`,
      );
    }
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    const text = await this.call(() => this.client.hget(this.keys.device(id).devs, id));
    return text === null ? undefined : decodeDevice(text);
  }

  async listDevices(): Promise<DeviceRecord[]> {
    const buckets = Array.from({ length: this.keys.buckets }, (_, b) => `${this.keys.bucketBase(b)}:devs`);
    const lists = await this.call(() => Promise.all(buckets.map((key) => this.client.hvals(key))));
    return lists
      .flat()
      .map(decodeDevice)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async removeDevice(id: string): Promise<boolean> {
    const k = this.keys.device(id);
    const reply = (await this.deviceStep(id, () =>
      this.script(
        'lpRemoveDevice',
        [k.devs, k.sched, k.pend, k.all, k.ids, k.cmap, k.toks],
        [id, k.messagePrefix],
      ),
    )) as [0] | [1, string[], string[]];
    if (reply[0] !== 1) return false;
    const [, claims, tokens] = reply;
    const released: Promise<unknown>[] = [this.tokens.releaseOwners(id, tokens)];
    for (let i = 0; i + 1 < claims.length; i += 2)
      released.push(this.releaseClaim(id, String(claims[i]), String(claims[i + 1])));
    await Promise.all(released);
    await this.replicated();
    return true;
  }

  /**
   * Releases the claim of a deleted message (removed device, retention) if it still holds that
   * generation, then drops the tombstone the deleting script left in the device's id hash.
   */
  private async releaseClaim(deviceId: string, messageId: string, generation: string): Promise<void> {
    await this.script(
      'lpCompareAndSet',
      [this.keys.claim(messageId)],
      [claimValue(deviceId, generation), ''],
    );
    await this.script('lpDropTombstone', [this.keys.device(deviceId).ids], [messageId, generation]);
  }

  /**
   * Store.prune: visits the buckets a few at a time, each bucket deleting its oldest-settled messages
   * from its done index (PRUNE_BUCKET), until `limit` are deleted or every bucket was visited.
   */
  async prune(before: number, limit: number): Promise<number> {
    let deleted = 0;
    for (let first = 0; first < this.keys.buckets && deleted < limit;) {
      const count = Math.min(PRUNE_BUCKETS_AT_ONCE, this.keys.buckets - first, limit - deleted);
      const buckets = Array.from({ length: count }, (_, i) => first + i);
      first += count;
      // Never more than the limit in all: each bucket of this step gets an equal share (at least 1).
      const share = Math.floor((limit - deleted) / count);
      const replies = (await this.call(() =>
        Promise.all(
          buckets.map((b) => {
            const base = this.keys.bucketBase(b);
            return this.script('lpPruneBucket', [`${base}:done`], [base, before, share]);
          }),
        ),
      )) as [number, string[]][];
      const released: Promise<void>[] = [];
      for (const [count, claims] of replies) {
        deleted += Number(count);
        for (let i = 0; i + 2 < claims.length; i += 3)
          released.push(this.releaseClaim(String(claims[i + 2]), String(claims[i]), String(claims[i + 1])));
      }
      await Promise.all(released);
    }
    if (deleted > 0) await this.replicated();
    return deleted;
  }

  async enqueue(message: NewMessage, options: EnqueueOptions): Promise<EnqueueResult> {
    const result = await this.insert(message, 'q', null, effectiveQueueBound(options.maxQueuePerDevice));
    await this.replicated();
    return result;
  }

  async recordExpired(message: NewMessage, at: number): Promise<StoredMessage> {
    const result = await this.insert(message, 'x', at, 1);
    await this.replicated();
    return result.message;
  }

  async deliverable(
    deviceId: string,
    afterSeq: number,
    now: number,
    limit: number,
  ): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const k = this.keys.device(deviceId);
    const reply = (await this.deviceStep(deviceId, () =>
      this.script('lpDeliverable', [k.pend], [k.messagePrefix, afterSeq, now, limit]),
    )) as RawHash[];
    return reply.map((raw) => decodeMessage(raw, deviceId).message);
  }

  async markSent(deviceId: string, seqs: readonly number[], at: number): Promise<void> {
    const k = this.keys.device(deviceId);
    const list = seqs.map(String);
    await this.deviceStep(deviceId, () =>
      this.script('lpMarkSent', [k.pend], [k.messagePrefix, at, ...list]),
    );
  }

  async acknowledge(deviceId: string, ack: AckInput, at: number): Promise<StoredMessage[]> {
    const k = this.keys.device(deviceId);
    const ids = [...(ack.ids ?? [])];
    const through = ack.through === undefined ? '' : String(ack.through);
    const reply = (await this.deviceStep(deviceId, () =>
      this.script('lpAcknowledge', [k.pend, k.ids, k.cmap], [k.messagePrefix, at, through, ...ids]),
    )) as RawHash[];
    if (reply.length > 0) await this.replicated();
    return reply.map((raw) => decodeMessage(raw, deviceId).message);
  }

  async expireDue(now: number): Promise<StoredMessage[]> {
    const expired: StoredMessage[] = [];
    const sweepBucket = async (bucket: number): Promise<void> => {
      const base = this.keys.bucketBase(bucket);
      for (;;) {
        const [more, list] = (await this.script(
          'lpExpireBucket',
          [`${base}:sched`],
          [base, now, EXPIRE_DEVICES_PER_CALL, EXPIRE_MESSAGES_PER_CALL],
        )) as [number, RawHash[]];
        for (const raw of list) expired.push(decodeMessage(raw, deviceOfMessageKey(raw)).message);
        if (more !== 1) return;
      }
    };
    await this.call(() => Promise.all(Array.from({ length: this.keys.buckets }, (_, b) => sweepBucket(b))));
    if (expired.length > 0) await this.replicated();
    return expired.sort((a, b) =>
      a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.seq - b.seq,
    );
  }

  async markFallenBack(messageId: string, at: number, detail: string): Promise<StoredMessage | undefined> {
    const owner = await this.ownerOf(messageId);
    if (owner === undefined) return undefined;
    const k = this.keys.device(owner);
    const raw = (await this.script(
      'lpFallBack',
      [k.pend, k.ids, k.cmap],
      [k.messagePrefix, messageId, at, detail],
    )) as RawHash | null;
    if (raw === null) return undefined;
    await this.replicated();
    return decodeMessage(raw, owner).message;
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    return (await this.readById(id))?.message;
  }

  async listMessages(deviceId: string, options: ListOptions): Promise<StoredMessage[]> {
    if (options.limit <= 0) return [];
    const k = this.keys.device(deviceId);
    const max = options.beforeSeq === undefined ? '+inf' : `(${options.beforeSeq}`;
    const reply = (await this.deviceStep(deviceId, () =>
      this.script('lpListMessages', [k.all], [k.messagePrefix, max, options.limit]),
    )) as RawHash[];
    return reply.map((raw) => decodeMessage(raw, deviceId).message);
  }

  async receipts(messageId: string): Promise<Receipt[]> {
    const decoded = await this.readById(messageId);
    if (decoded === undefined) return [];
    return receiptsOf(decoded.message, decoded.redeliveries, decoded.settledDetail);
  }

  async pendingCount(deviceId: string): Promise<number> {
    const k = this.keys.device(deviceId);
    return this.deviceStep(deviceId, () => this.call(() => this.client.zcard(k.pend)));
  }

  async registerApnsToken(record: ApnsTokenRecord): Promise<void> {
    await this.tokens.register(record);
    await this.replicated();
  }

  apnsToken(token: string): Promise<ApnsTokenRecord | undefined> {
    return this.tokens.lookup(token);
  }

  apnsTokensOf(deviceId: string): Promise<ApnsTokenRecord[]> {
    return this.tokens.tokensOf(deviceId);
  }

  async removeApnsToken(token: string): Promise<boolean> {
    const removed = await this.tokens.remove(token);
    if (removed) await this.replicated();
    return removed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  // ── the id's claim, and inserting under it ──────────────────────────────────────────────────────

  /**
   * enqueue and recordExpired: claim the id, then insert into the device under that claim; see the file
   * comment for the takeover of a claim whose device has no such message.
   */
  private async insert(
    message: NewMessage,
    mode: 'q' | 'x',
    settledAt: number | null,
    bound: number,
  ): Promise<EnqueueResult> {
    this.assertOpen();
    const deviceId = message.deviceId;
    const turn = this.order.reserve(deviceId);
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        const fresh = newGeneration();
        const [created, value] = (await this.script(
          'lpClaim',
          [this.keys.claim(message.id)],
          [claimValue(deviceId, fresh)],
        )) as [number, string];
        const owner = parseClaim(value).deviceId;
        let generation = parseClaim(value).generation;
        if (owner !== deviceId) {
          const existing = await this.fence(owner, message.id, generation);
          if (existing !== undefined) {
            // Another device's message: refused by the id rule (rules.ts), nothing was written.
            assertDuplicate(existing, message);
            return { message: existing, duplicate: true, collapsed: [], overflowed: [] };
          }
          const moved = await this.script(
            'lpCompareAndSet',
            [this.keys.claim(message.id)],
            [value, claimValue(deviceId, fresh)],
          );
          if (moved !== 1) continue;
          generation = fresh;
        }
        const reply = (await turn.send(() =>
          this.insertScript(message, mode, settledAt, bound, generation),
        )) as EnqueueReply;
        switch (reply[0]) {
          case 'ok':
            return {
              message: decodeMessage(reply[1], deviceId).message,
              duplicate: false,
              collapsed: reply[2].map((raw) => decodeMessage(raw, deviceId).message),
              overflowed: reply[3].map((raw) => decodeMessage(raw, deviceId).message),
            };
          case 'dup': {
            const existing = decodeMessage(reply[1], deviceId).message;
            // Same device: a duplicate only with the same content (rules.ts); nothing was written.
            assertDuplicate(existing, message);
            return { message: existing, duplicate: true, collapsed: [], overflowed: [] };
          }
          case 'unknown':
            // Release a claim made by this call (one made earlier stays: someone may be inserting under it).
            if (created === 1)
              await this.script('lpCompareAndSet', [this.keys.claim(message.id)], [value, '']);
            throw unknownDeviceError(deviceId);
          case 'fenced':
            // The claim this insert ran under was taken over (or released by a removal): move it to a new
            // generation if it still names this device, then start over.
            await this.script(
              'lpCompareAndSet',
              [this.keys.claim(message.id)],
              [claimValue(deviceId, generation), claimValue(deviceId, newGeneration())],
            );
            continue;
        }
      }
      throw new Error(
        `could not settle the claim of message id "${message.id}" in ${CLAIM_ATTEMPTS} attempts`,
      );
    } finally {
      turn.release();
    }
  }

  private insertScript(
    message: NewMessage,
    mode: 'q' | 'x',
    settledAt: number | null,
    bound: number,
    generation: string,
  ): Promise<unknown> {
    const k = this.keys.device(message.deviceId);
    return this.script(
      'lpEnqueue',
      [k.devs, k.seqs, k.sched, k.pend, k.all, k.ids, k.cmap],
      [
        message.deviceId,
        message.id,
        generation,
        mode,
        message.kind,
        JSON.stringify(message.payload),
        message.priority,
        message.expiration,
        message.acceptedAt,
        message.collapseId ?? '',
        message.collapseId === null ? '0' : '1',
        settledAt ?? '',
        bound,
        dueTime(message),
        k.messagePrefix,
      ],
    );
  }

  /** Fences an id in the device its claim names: the message when it is there, else undefined (fenced). */
  private async fence(
    owner: string,
    messageId: string,
    generation: string,
  ): Promise<StoredMessage | undefined> {
    const k = this.keys.device(owner);
    const reply = (await this.script('lpFence', [k.ids], [k.messagePrefix, messageId, generation])) as [
      number,
      RawHash?,
    ];
    return reply[0] === 1 && reply[1] !== undefined ? decodeMessage(reply[1], owner).message : undefined;
  }

  private async ownerOf(messageId: string): Promise<string | undefined> {
    const value = await this.call(() => this.client.get(this.keys.claim(messageId)));
    return value === null ? undefined : parseClaim(value).deviceId;
  }

  private async readById(messageId: string): Promise<DecodedMessage | undefined> {
    const owner = await this.ownerOf(messageId);
    if (owner === undefined) return undefined;
    const k = this.keys.device(owner);
    const raw = (await this.script('lpGetMessage', [k.ids], [k.messagePrefix, messageId])) as RawHash | null;
    return raw === null ? undefined : decodeMessage(raw, owner);
  }

  /**
   * With `waitReplicas`, resolves once that many replicas have every write answered so far. One WAIT per
   * event-loop turn (per master, on a Cluster) covers all the writes answered in that turn, since WAIT
   * counts every earlier write of the connection: a group commit for replication.
   */
  private replicated(): Promise<void> {
    const { replicas, timeoutMs } = this.wait;
    if (replicas <= 0) return Promise.resolve();
    this.waitRound ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.waitRound = undefined;
      const masters = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
      const counts = await this.call(() =>
        Promise.all(masters.map((node) => node.wait(replicas, timeoutMs))),
      );
      const fewest = Math.min(...counts);
      if (fewest < replicas) {
        throw new StoreError(
          ServerErrorCode.STORE_UNAVAILABLE,
          `only ${fewest} of ${replicas} Redis replicas confirmed the write within ${timeoutMs} ms; it may be lost in a failover`,
        );
      }
    });
    return this.waitRound;
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────────────

  /** Runs a device's single-step operation in call order with the device's multi-step ones. */
  private deviceStep<T>(deviceId: string, send: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError(this.kind));
    return this.order.run(deviceId, send);
  }

  private script(
    name: ScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(closedError(this.kind));
    return runScript(this.client, name, keys, args);
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await run();
    } catch (error) {
      throw translateRedisError(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw closedError(this.kind);
  }
}

/** The device of a message returned by the bucket sweep, which spans devices: it adds a `dv` pair. */
function deviceOfMessageKey(raw: RawHash): string {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === 'dv') return raw[i + 1] ?? '';
  return '';
}
