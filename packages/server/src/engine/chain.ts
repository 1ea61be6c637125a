/**
 * Per-key operation chains: operations with the same key (a device id) run one after another in call
 * order; different keys run concurrently. The engine runs every store operation of a device through its
 * chain, so concurrent submits and acks of one device keep seq order and window accounting consistent.
 */

/** Runs async operations serially per key. Keys with nothing queued hold no memory. */
export class KeyedChain {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Queues `operation` behind everything already queued for `key` and returns its result. The operation
   * is queued synchronously, so calls made in one order run in that order. A failing operation rejects
   * its own promise only; the chain continues with the next one.
   */
  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Number of keys with queued or running operations. */
  get activeKeys(): number {
    return this.tails.size;
  }

  /** Resolves once every chain is empty, including operations queued while waiting. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) {
      await Promise.all([...this.tails.values()]);
    }
  }
}
