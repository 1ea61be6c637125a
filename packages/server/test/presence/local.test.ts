/** The local session directory passes the presence conformance suite (the cross-node tests do not apply). */
import { ManualClock } from '@localpush/protocol';
import { LocalSessionDirectory } from '../../src/presence/local.js';
import { runPresenceConformance } from './conformance.js';

runPresenceConformance('local', {
  maxNodes: 1,
  leaseMs: null,
  create: () => {
    const directory = new LocalSessionDirectory({ clock: new ManualClock() });
    return Promise.resolve({ nodes: [directory], cleanup: () => directory.close() });
  },
});
