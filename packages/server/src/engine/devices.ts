/**
 * Device enrolment: ids, credentials and their verification. A credential is 256 random bits, shown
 * once at enrolment and stored only as its SHA-256 — a slow hash buys nothing against that much entropy.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEVICE_ID_PATTERN, type Clock } from '@localpush/protocol';
import { ServerErrorCode, StoreError } from '../errors.js';
import type { DeviceRecord, Store } from '../store/types.js';
import type { DeviceDirectory } from './types.js';

/** What {@link createDeviceDirectory} needs. */
export interface DeviceDirectoryDeps {
  store: Store;
  clock: Clock;
  /** Whether the device has a live session (the gateway's view). */
  isOnline: (deviceId: string) => boolean;
}

/** Thrown by DeviceDirectory.add for an id that does not match DEVICE_ID_PATTERN. [LP-4.4] */
export class InvalidDeviceIdError extends RangeError {
  override readonly name = 'InvalidDeviceIdError';
  constructor(readonly deviceId: string) {
    super(
      `device id "${deviceId.slice(0, 140)}" is invalid: use 1–128 letters, digits, ".", "_", "-", ":" or "@"`,
    );
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A fresh device id: `dev-` and 10 random base32 characters (50 bits). */
export function generateDeviceId(): string {
  const bytes = randomBytes(10);
  let id = 'dev-';
  for (const byte of bytes) id += BASE32[byte & 31] ?? 'a';
  return id;
}

/** A fresh credential: `lpd_` and 32 random bytes in base64url. */
export function generateCredential(): string {
  return `lpd_${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a credential: SHA-256, lower-case hex. */
export function hashCredential(credential: string): string {
  return createHash('sha256').update(credential, 'utf8').digest('hex');
}

/** Compared against when the device is unknown, so that both failures take the same path and time. */
const UNKNOWN_DEVICE_HASH = Buffer.alloc(32);

/**
 * True when `credential` is the device's. Unknown device and wrong credential give the same answer after
 * the same work (one store lookup, one hash, one constant-time compare of 32 bytes).
 */
export async function verifyCredential(store: Store, deviceId: string, credential: string): Promise<boolean> {
  const device = await store.getDevice(deviceId);
  const presented = createHash('sha256').update(credential, 'utf8').digest();
  let expected = UNKNOWN_DEVICE_HASH;
  if (device !== undefined && /^[0-9a-f]{64}$/.test(device.credentialHash)) {
    expected = Buffer.from(device.credentialHash, 'hex');
  }
  const equal = timingSafeEqual(presented, expected);
  return equal && device !== undefined;
}

/** Creates the device directory over a store. */
export function createDeviceDirectory(deps: DeviceDirectoryDeps): DeviceDirectory {
  const { store, clock, isOnline } = deps;
  return {
    async add(input) {
      const label = input.label ?? null;
      if (input.id !== undefined) {
        if (!DEVICE_ID_PATTERN.test(input.id)) throw new InvalidDeviceIdError(input.id);
        return register(input.id, label);
      }
      // A generated id can collide (2^-50 per pair); try a few before giving up.
      for (let attempt = 0; ; attempt++) {
        try {
          return await register(generateDeviceId(), label);
        } catch (error) {
          const taken = error instanceof StoreError && error.code === ServerErrorCode.STORE_DEVICE_EXISTS;
          if (!taken || attempt >= 4) throw error;
        }
      }
    },
    get: (id) => store.getDevice(id),
    list: () => store.listDevices(),
    remove: (id) => store.removeDevice(id),
    isOnline,
  };

  async function register(
    id: string,
    label: string | null,
  ): Promise<{ device: DeviceRecord; credential: string }> {
    const credential = generateCredential();
    const device: DeviceRecord = {
      id,
      credentialHash: hashCredential(credential),
      label,
      createdAt: clock.now(),
    };
    await store.addDevice(device);
    return { device, credential };
  }
}
