/**
 * The APNs token registrations of the Redis store. A registration lives in its device's bucket
 * (`<prefix>:{b<n>}:t:<device>`, token → "<generation> <JSON>"), so removing a device removes its tokens
 * in the same script as its messages. Looking a token up needs its device, which the token's own key
 * `<prefix>:{t:<token>}` = "<device>#<generation>" names; that key lives in another slot.
 *
 * A token belongs to a device exactly when both agree: the owner key names the device and generation, and
 * the device holds the token under that generation. Every write keeps the order below, so that a crash or
 * a race between two steps leaves at worst a registration that reads as absent, never one that names the
 * wrong device:
 *
 * - register: (1) put the registration, with a fresh generation, into the device (refused if the device
 *   does not exist); (2) swap the owner key to the device and generation; (3) drop the registration of
 *   the owner the key named before, if it still holds that generation (the token moved).
 * - remove a token: (1) drop it from the device its owner key names, of that generation; (2) delete the
 *   owner key if it still holds that value.
 * - remove a device (redis.ts): (1) one script deletes the device with its registrations; (2) each
 *   owner key is deleted if it still names that device and generation.
 */
import { randomBytes } from 'node:crypto';
import { byToken, normalizedApnsToken, unknownDeviceError } from './rules.js';
import { claimValue, parseClaim, type KeyLayout } from './redis-keys.js';
import type { ScriptName } from './redis-scripts.js';
import type { ApnsTokenRecord } from './types.js';

/** What the token operations need of the store: its key layout and its ways to reach Redis. */
export interface RedisTokenDeps {
  readonly keys: KeyLayout;
  script(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  get(key: string): Promise<string | null>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  /** Runs a step of a device in call order with its other operations (redis-order.ts). */
  deviceStep<T>(deviceId: string, send: () => Promise<T>): Promise<T>;
}

interface StoredValue {
  generation: string;
  record: ApnsTokenRecord;
}

function encodeValue(generation: string, record: ApnsTokenRecord): string {
  const fields = { b: record.bundleId, e: record.environment, u: record.updatedAt };
  return `${generation} ${JSON.stringify(fields)}`;
}

function decodeValue(token: string, deviceId: string, value: string): StoredValue {
  const space = value.indexOf(' ');
  const fields = JSON.parse(value.slice(space + 1)) as { b: string; e: string; u: number };
  return {
    generation: value.slice(0, space),
    record: {
      token,
      deviceId,
      bundleId: fields.b,
      environment: fields.e === 'production' ? 'production' : 'development',
      updatedAt: fields.u,
    },
  };
}

export class RedisApnsTokens {
  constructor(private readonly redis: RedisTokenDeps) {}

  async register(input: ApnsTokenRecord): Promise<void> {
    const record = normalizedApnsToken(input);
    const { keys } = this.redis;
    const k = keys.device(record.deviceId);
    const generation = randomBytes(6).toString('base64url');
    const put = await this.redis.deviceStep(record.deviceId, () =>
      this.redis.script(
        'lpTokenPut',
        [k.devs, k.toks],
        [record.deviceId, record.token, encodeValue(generation, record)],
      ),
    );
    if (put !== 1) throw unknownDeviceError(record.deviceId, 'an APNs token');
    const before = (await this.redis.script(
      'lpSwap',
      [keys.tokenOwner(record.token)],
      [claimValue(record.deviceId, generation)],
    )) as string | null;
    if (before === null) return;
    const previous = parseClaim(before);
    // The same device registering again already replaced its own entry; the old generation is gone.
    if (previous.deviceId === record.deviceId) return;
    const old = keys.device(previous.deviceId);
    await this.redis.script('lpTokenDrop', [old.toks], [record.token, previous.generation]);
  }

  async lookup(token: string): Promise<ApnsTokenRecord | undefined> {
    const lower = token.toLowerCase();
    const owner = await this.redis.get(this.redis.keys.tokenOwner(lower));
    if (owner === null) return undefined;
    const { deviceId, generation } = parseClaim(owner);
    const value = await this.redis.hget(this.redis.keys.device(deviceId).toks, lower);
    if (value === null) return undefined;
    const stored = decodeValue(lower, deviceId, value);
    return stored.generation === generation ? stored.record : undefined;
  }

  async tokensOf(deviceId: string): Promise<ApnsTokenRecord[]> {
    const all = await this.redis.deviceStep(deviceId, () =>
      this.redis.hgetall(this.redis.keys.device(deviceId).toks),
    );
    const entries = Object.entries(all).map(([token, value]) => decodeValue(token, deviceId, value));
    // Only registrations the owner key confirms: one a crash or race left behind reads as absent here too.
    const owners = await Promise.all(
      entries.map((entry) => this.redis.get(this.redis.keys.tokenOwner(entry.record.token))),
    );
    return entries
      .filter((entry, i) => owners[i] === claimValue(deviceId, entry.generation))
      .map((entry) => entry.record)
      .sort(byToken);
  }

  async remove(token: string): Promise<boolean> {
    const lower = token.toLowerCase();
    const ownerKey = this.redis.keys.tokenOwner(lower);
    const owner = await this.redis.get(ownerKey);
    if (owner === null) return false;
    const { deviceId, generation } = parseClaim(owner);
    const dropped = await this.redis.deviceStep(deviceId, () =>
      this.redis.script('lpTokenDrop', [this.redis.keys.device(deviceId).toks], [lower, generation]),
    );
    await this.redis.script('lpCompareAndSet', [ownerKey], [owner, '']);
    return dropped === 1;
  }

  /** Step (2) of removing a device: release the owner keys of the tokens its script removed. */
  async releaseOwners(deviceId: string, pairs: readonly string[]): Promise<void> {
    const released: Promise<unknown>[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const token = pairs[i] ?? '';
      const value = claimValue(deviceId, pairs[i + 1] ?? '');
      released.push(this.redis.script('lpCompareAndSet', [this.redis.keys.tokenOwner(token)], [value, '']));
    }
    await Promise.all(released);
  }
}
