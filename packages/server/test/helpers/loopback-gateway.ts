/**
 * A gateway for listener tests over real loopback sockets: a fresh data directory with its identity, a
 * gateway that accepts the credential "good" and feeds an engine that does nothing, and the listeners a
 * test starts, all torn down by `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '@localpush/protocol';
import type { SessionListener } from '../../src/engine/types.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { Listener } from '../../src/gateway/listeners.js';
import { loadOrCreateIdentity, type ServerIdentity } from '../../src/identity.js';

const noEngine: SessionListener = {
  sessionOpened() {},
  sessionClosed() {},
  ackReceived: () => true,
  sessionWritable() {},
};

export interface LoopbackGateway {
  dataDir: string;
  identity: ServerIdentity;
  gateway: Gateway;
  /** Listeners a test started; `close()` closes them. */
  listeners: Listener[];
  close(): Promise<void>;
}

export async function loopbackGateway(prefix: string): Promise<LoopbackGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const identity = await loadOrCreateIdentity(dataDir);
  const gateway = new Gateway({
    listener: noEngine,
    clock: systemClock,
    authenticate: (_id, credential) => Promise.resolve(credential === 'good'),
  });
  const listeners: Listener[] = [];
  return {
    dataDir,
    identity,
    gateway,
    listeners,
    async close() {
      await gateway.shutdown({ drainTimeoutMs: 500 });
      await Promise.all(listeners.map((l) => l.close()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
