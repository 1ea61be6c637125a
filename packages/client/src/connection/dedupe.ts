/**
 * The set of recently processed push ids. The server redelivers anything not acknowledged (after a
 * reconnect, or when an ack was lost), so the client must recognise repeats [LP-6.4]; a bounded window
 * keeps memory flat on a device that runs for months.
 */

/** Default number of ids remembered. */
export const DEFAULT_DEDUPE_WINDOW = 4096;

/** A bounded LRU set of strings: adding beyond capacity forgets the least recently seen id. */
export class DedupeWindow {
  // A Set iterates in insertion order, so re-inserting on access makes its first element the LRU one.
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number = DEFAULT_DEDUPE_WINDOW) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`dedupeWindow must be a positive integer, got ${capacity}`);
    }
  }

  /** Ids currently remembered. */
  get size(): number {
    return this.ids.size;
  }

  /** True when `id` was added and not yet evicted; refreshes its recency. */
  has(id: string): boolean {
    if (!this.ids.has(id)) return false;
    this.ids.delete(id);
    this.ids.add(id);
    return true;
  }

  /** Remembers `id`, evicting the least recently seen id when full. */
  add(id: string): void {
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
  }
}
