/**
 * Child process for the crash test: opens the store given as argv[2], registers a device, enqueues
 * argv[3] messages concurrently, prints "committed <n>" once every promise resolved, then keeps
 * enqueueing until it is killed, so the kill lands in the middle of writes.
 */
import { openSqliteStore } from '../../../src/store/index.js';

const [path, countText] = process.argv.slice(2);
if (path === undefined || countText === undefined) throw new Error('usage: crash-child <db> <count>');
const store = await openSqliteStore({ path });
await store.addDevice({ id: 'crash', credentialHash: '00', label: null, createdAt: 0 });
const message = (i: number) => ({
  id: `c-${i}`,
  deviceId: 'crash',
  kind: 'alert' as const,
  payload: { i },
  priority: 10 as const,
  expiration: 0,
  collapseId: null,
  acceptedAt: i,
});
const count = Number(countText);
const bound = { maxQueuePerDevice: 1_000_000 };
await Promise.all(Array.from({ length: count }, (_, i) => store.enqueue(message(i), bound)));
process.stdout.write(`committed ${count}\n`);
for (let i = count; ; i++) await store.enqueue(message(i), bound);
