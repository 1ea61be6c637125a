// Shared fixtures for the APNs tests: P-256 signing keys like Apple's .p8 files, a JWT helper, and a
// clock whose timers fire on the next turn of the event loop while recording the delays asked for.
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { createServer, connect, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '@localpush/protocol';

export const TEAM = 'TEAM123456';
export const KEY_ID = 'KEY1234567';

export interface TestKey {
  teamId: string;
  keyId: string;
  privatePem: string;
  publicPem: string;
}

export function makeKey(teamId = TEAM, keyId = KEY_ID): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    teamId,
    keyId,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Sign a provider token by hand, with full control over header and claims. */
export function signToken(
  key: TestKey,
  opts: { iatSec: number; kid?: string; iss?: string | undefined; alg?: string; omitIat?: boolean },
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: opts.kid ?? key.keyId });
  if (opts.iss !== undefined) jwt.setIssuer(opts.iss);
  else if (!('iss' in opts)) jwt.setIssuer(key.teamId);
  if (opts.omitIat !== true) jwt.setIssuedAt(opts.iatSec);
  return jwt.sign(createPrivateKey(key.privatePem));
}

/**
 * A clock for back-off tests: time does not move, timers of at most `instantMaxMs` fire on the next
 * macrotask with their delays recorded, and longer ones (request/connect timeouts) never fire.
 */
export class RecordingClock implements Clock {
  readonly delays: number[] = [];
  private current = 1_700_000_000_000;
  constructor(private readonly instantMaxMs = 60_000) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    if (delayMs > this.instantMaxMs) return { held: callback };
    this.delays.push(delayMs);
    return setImmediate(callback);
  }
  clearTimeout(handle: TimerHandle): void {
    if (!('held' in handle)) clearImmediate(handle as NodeJS.Immediate);
  }
}

export const DEVICE = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

/** A TCP relay in front of `targetPort` that can be frozen: bytes stop flowing, sockets stay open. */
export async function startRelay(targetPort: number): Promise<{
  port: number;
  freeze(): void;
  close(): Promise<void>;
}> {
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    freeze() {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
