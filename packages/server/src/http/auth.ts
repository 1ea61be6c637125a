/**
 * Provider-key authentication: `Authorization: Bearer <provider key>`. Keys are compared as SHA-256
 * digests with timingSafeEqual, against every configured key without stopping early, so the answer's
 * timing says nothing about how much of a key matched or which key it was.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Checks bearer tokens against a fixed set of provider keys. */
export class ProviderKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** True when the Authorization header carries one of the keys as a bearer token. */
  verifyHeader(header: string | undefined): boolean {
    if (header === undefined) return false;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const token = match?.[1];
    return token === undefined ? false : this.verify(token);
  }

  /** True when `token` is one of the keys. */
  verify(token: string): boolean {
    const presented = digest(token);
    let ok = false;
    for (const expected of this.digests) {
      // Bitwise OR, not ||: every key is compared whatever the earlier ones gave.
      ok = timingSafeEqual(presented, expected) || ok;
    }
    return ok;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
