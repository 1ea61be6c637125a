/**
 * Key layout of the Redis store, and decoding of what its scripts return.
 *
 * Devices are spread over a fixed number of buckets (1024 by default, recorded in `<prefix>:meta` on
 * first use so that every node agrees). A bucket's keys share the hash tag `{b<n>}`, so they live in one
 * Redis Cluster slot, and so do the keys of every device in it:
 *
 *   <prefix>:{b<n>}:devs          hash  device id → device record (JSON)
 *   <prefix>:{b<n>}:seqs          hash  device id → last seq handed out (kept after removal)
 *   <prefix>:{b<n>}:sched         zset  device id → earliest time (ms) one of its messages may expire
 *   <prefix>:{b<n>}:p:<device>    zset  seqs of undelivered (queued or sent) messages
 *   <prefix>:{b<n>}:a:<device>    zset  seqs of all messages
 *   <prefix>:{b<n>}:i:<device>    hash  message id → seq, or "-<generation>" (a tombstone)
 *   <prefix>:{b<n>}:c:<device>    hash  collapse id → seq of the one undelivered message with it
 *   <prefix>:{b<n>}:m:<device>:<seq>  hash  the message (fields: redis-scripts.ts)
 *   <prefix>:{b<n>}:t:<device>    hash  APNs token → "<generation> <registration JSON>"
 *
 * Because a device's keys and its bucket's indexes (the device list, the expiry schedule) share a slot,
 * adding or removing a device and every change of its messages is one script, including the indexes.
 * Only what is looked up by message id alone lives elsewhere, in the id's own slot:
 *
 *   <prefix>:{m:<message id>}     string  "<device id>#<generation>": the claim of the id (redis.ts)
 *   <prefix>:{t:<APNs token>}     string  "<device id>#<generation>": which device holds the token
 *                                         (redis-tokens.ts)
 */
import type { JsonValue, PushKind, PushPriority } from '@localpush/protocol';
import type { DeviceRecord, MessageState, StoredMessage } from './types.js';

export const DEFAULT_BUCKETS = 1024;

/** The keys of one device (and of its bucket). */
export interface DeviceKeys {
  readonly devs: string;
  readonly seqs: string;
  readonly sched: string;
  readonly pend: string;
  readonly all: string;
  readonly ids: string;
  readonly cmap: string;
  /** The device's APNs token registrations. */
  readonly toks: string;
  /** Prefix of the device's message hashes: append the seq. */
  readonly messagePrefix: string;
}

export class KeyLayout {
  constructor(
    readonly prefix: string,
    readonly buckets: number,
  ) {}

  get meta(): string {
    return `${this.prefix}:meta`;
  }

  /** The base of bucket n's keys: `<prefix>:{b<n>}`. */
  bucketBase(bucket: number): string {
    return `${this.prefix}:{b${bucket}}`;
  }

  bucketOf(deviceId: string): number {
    return fnv1a(deviceId) % this.buckets;
  }

  device(deviceId: string): DeviceKeys {
    const base = this.bucketBase(this.bucketOf(deviceId));
    return {
      devs: `${base}:devs`,
      seqs: `${base}:seqs`,
      sched: `${base}:sched`,
      pend: `${base}:p:${deviceId}`,
      all: `${base}:a:${deviceId}`,
      ids: `${base}:i:${deviceId}`,
      cmap: `${base}:c:${deviceId}`,
      toks: `${base}:t:${deviceId}`,
      messagePrefix: `${base}:m:${deviceId}:`,
    };
  }

  /** The claim of a message id. Any braces in the id only change which slot it hashes to. */
  claim(messageId: string): string {
    return `${this.prefix}:{m:${messageId}}`;
  }

  /** Which device an APNs token (lower-case hex) belongs to. */
  tokenOwner(token: string): string {
    return `${this.prefix}:{t:${token}}`;
  }
}

/** 32-bit FNV-1a over the UTF-16 code units: stable across nodes and versions, cheap, well spread. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A claim's value: which device holds the id, and the generation of the claim. */
export function claimValue(deviceId: string, generation: string): string {
  return `${deviceId}#${generation}`;
}

export function parseClaim(value: string): { deviceId: string; generation: string } {
  const at = value.lastIndexOf('#');
  return { deviceId: value.slice(0, at), generation: value.slice(at + 1) };
}

/** What HGETALL of a message hash returns, as ioredis hands it over: [field, value, field, value, …]. */
export type RawHash = readonly string[];

/** A stored message from its hash, plus what receipts need (redeliveries and the terminal detail). */
export interface DecodedMessage {
  message: StoredMessage;
  redeliveries: number[];
  settledDetail: string | null;
}

export function decodeMessage(raw: RawHash, deviceId: string): DecodedMessage {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) f.set(raw[i] ?? '', raw[i + 1] ?? '');
  const text = (name: string): string => f.get(name) ?? '';
  const num = (name: string): number => Number(f.get(name));
  const optionalNum = (name: string): number | null => (f.has(name) ? Number(f.get(name)) : null);
  const redeliveries = f.has('r') ? text('r').split(',').map(Number) : [];
  return {
    message: {
      id: text('id'),
      deviceId,
      kind: text('k') as PushKind,
      payload: JSON.parse(text('pl')) as JsonValue,
      priority: num('pr') as PushPriority,
      expiration: num('e'),
      collapseId: f.get('c') ?? null,
      acceptedAt: num('a'),
      seq: num('q'),
      state: text('s') as MessageState,
      sentAt: optionalNum('st'),
      settledAt: optionalNum('sa'),
    },
    redeliveries,
    settledDetail: f.get('dt') ?? null,
  };
}

/** The device record as kept in its bucket's `devs` hash. */
export function encodeDevice(device: DeviceRecord): string {
  return JSON.stringify({
    id: device.id,
    credentialHash: device.credentialHash,
    label: device.label,
    createdAt: device.createdAt,
  });
}

export function decodeDevice(text: string): DeviceRecord {
  const parsed = JSON.parse(text) as DeviceRecord;
  return {
    id: parsed.id,
    credentialHash: parsed.credentialHash,
    label: parsed.label,
    createdAt: parsed.createdAt,
  };
}
