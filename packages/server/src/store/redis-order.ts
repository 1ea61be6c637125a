/**
 * Call order for the Redis store. The engine relies on a store running one device's operations in the
 * order they were called. Commands sent on one connection run in the order sent, so it is enough that
 * each operation *sends* its device step in call order. Most operations are that one step and send it at
 * once; enqueue first claims the message id (a round trip to another slot), so it reserves its turn
 * when called and later operations of the same device wait until it has sent its step.
 */

/** A reserved place in a device's order. */
export interface Turn {
  /** Sends the device step (after the steps of every earlier operation of the device); may repeat. */
  send<T>(step: () => Promise<T>): Promise<T>;
  /** Gives the turn up when the operation ends without (or after) sending. Idempotent. */
  release(): void;
}

export class DeviceOrder {
  /** Per device: resolves once the last reserved operation has sent its step. */
  private readonly tails = new Map<string, Promise<void>>();

  reserve(deviceId: string): Turn {
    const previous = this.tails.get(deviceId);
    let open: () => void = () => {};
    const mine = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.tails.set(deviceId, mine);
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      open();
      if (this.tails.get(deviceId) === mine) this.tails.delete(deviceId);
    };
    return {
      async send<T>(step: () => Promise<T>): Promise<T> {
        if (done) return step();
        if (previous !== undefined) await previous;
        try {
          return step();
        } finally {
          release();
        }
      },
      release,
    };
  }

  /** Sends a one-step operation: at once when nothing of the device is waiting, else in its turn. */
  run<T>(deviceId: string, step: () => Promise<T>): Promise<T> {
    if (!this.tails.has(deviceId)) return step();
    return this.reserve(deviceId).send(step);
  }
}
