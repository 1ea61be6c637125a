/**
 * Child-process entry that runs a share of the simulated devices, so that the simulator can use both
 * cores (the parent keeps the sender and the receipt feed). It speaks to the parent over the IPC channel:
 * `connect` → progress, `connected`; pushes are reported in batches every 20 ms with their arrival time
 * on the epoch clock (performance.timeOrigin + now), which is comparable across processes.
 */
import { Fleet, type DeviceSpec, type FleetTransport } from './simulator.js';

export type ToWorker =
  | { type: 'connect'; transport: FleetTransport; port: number; specs: DeviceSpec[]; reconnect: boolean }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'welcomed'; count: number }
  | { type: 'connected' }
  | { type: 'pushes'; ids: string[]; at: number[] }
  | { type: 'stats'; welcomes: number; resumed: number; connected: number }
  | { type: 'failed'; error: string }
  | { type: 'closed'; failures: number; lastError: string | null };

const reply = (message: FromWorker): void => {
  process.send?.(message);
};

let fleet: Fleet | undefined;
let ids: string[] = [];
let at: number[] = [];
let reported = '';
const flush = setInterval(() => {
  const stats = fleet && { welcomes: fleet.welcomes, resumed: fleet.resumed, connected: fleet.connected };
  if (stats !== undefined && JSON.stringify(stats) !== reported) {
    reported = JSON.stringify(stats);
    reply({ type: 'stats', ...stats });
  }
  if (ids.length === 0) return;
  reply({ type: 'pushes', ids, at });
  ids = [];
  at = [];
}, 20);

process.on('message', (message: ToWorker) => {
  if (message.type === 'connect') {
    fleet = new Fleet({
      transport: message.transport,
      port: message.port,
      reconnect: message.reconnect,
      onPush: (id, receivedAt) => {
        ids.push(id);
        at.push(receivedAt);
      },
    });
    let last = 0;
    fleet
      .connect(message.specs, (n) => {
        // Progress every 100 devices is plenty and keeps the channel quiet.
        if (n - last >= 100 || n === message.specs.length) {
          last = n;
          reply({ type: 'welcomed', count: n });
        }
      })
      .then(
        () => reply({ type: 'connected' }),
        (error: unknown) => reply({ type: 'failed', error: String(error) }),
      );
  } else {
    const closing = fleet?.close() ?? Promise.resolve();
    void closing.then(() => {
      clearInterval(flush);
      const closed: FromWorker = {
        type: 'closed',
        failures: fleet?.failures ?? 0,
        lastError: fleet?.lastError ?? null,
      };
      // Disconnect only once the answer is on its way, or the parent would never see it.
      process.send?.(closed, () => process.disconnect());
    });
  }
});
reply({ type: 'ready' });
// The parent dying closes the channel: leave with it, so no simulator outlives a bench run.
process.on('disconnect', () => process.exit(0));
