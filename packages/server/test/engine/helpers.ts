/** Shared set-up for the engine tests: a real memory store, a manual clock and a receipt recorder. */
import { ManualClock } from '@localpush/protocol';
import { createDeviceDirectory } from '../../src/engine/devices.js';
import { createDeliveryEngine, type DeliveryEngineOptions } from '../../src/engine/engine.js';
import type { SendRequest } from '../../src/engine/types.js';
import { createMemoryStore } from '../../src/store/index.js';
import type { Receipt, StoredMessage } from '../../src/store/types.js';

export async function setup(
  options: Partial<DeliveryEngineOptions> = {},
  devices: string[] = ['d1'],
  { followAckTimeouts = true } = {},
) {
  const clock = new ManualClock();
  const store = createMemoryStore();
  const ackTimeouts: StoredMessage[] = [];
  const engine = createDeliveryEngine({
    store,
    clock,
    options,
    ...(followAckTimeouts ? { onAckTimeout: (message: StoredMessage) => ackTimeouts.push(message) } : {}),
  });
  const receipts: Receipt[] = [];
  engine.onReceipt((receipt) => receipts.push(receipt));
  const directory = createDeviceDirectory({ store, clock, isOnline: (id) => engine.isOnline(id) });
  for (const id of devices) await directory.add({ id });
  return {
    clock,
    store,
    engine,
    directory,
    receipts,
    ackTimeouts,
    /** Receipt events of one message, in emission order. */
    eventsOf: (id: string) => receipts.filter((r) => r.messageId === id).map((r) => r.event),
    /**
     * Advances the clock in steps, waiting after each for everything the timers started (the sweep
     * re-arms only after its async store call, as on a real clock).
     */
    advance: async (ms: number, step = 100) => {
      for (let done = 0; done < ms; done += step) {
        clock.advance(Math.min(step, ms - done));
        await engine.idle();
      }
    },
  };
}

/** A valid send request with defaults. */
export function request(deviceId: string, extra: Partial<SendRequest> = {}): SendRequest {
  return { deviceId, kind: 'alert', payload: { text: 'hi' }, priority: 10, ...extra };
}
