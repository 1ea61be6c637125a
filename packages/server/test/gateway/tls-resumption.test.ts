/**
 * TLS session resumption over real loopback sockets: through the plaintext-sniffing front of the device
 * listener, on the wss listener, and across a restart of the whole server on the same data directory —
 * which works only because the ticket keys are kept there. Plus the ticket-key file's own rules.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { LocalpushError, ServerErrorCode } from '../../src/errors.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { listenTls, listenWebSocket, type Listener } from '../../src/gateway/listeners.js';
import {
  TICKET_KEYS_BYTES,
  TICKET_KEYS_MAX_AGE_MS,
  loadOrCreateTicketKeys,
  type ServerIdentity,
} from '../../src/identity.js';
import { startServer } from '../../src/server.js';
import { loopbackGateway, type LoopbackGateway } from '../helpers/loopback-gateway.js';
import { RawPeer } from '../helpers/raw-peer.js';

/**
 * One TLS connection: whether it resumed `session`, and (for a full handshake) the ticket the server gave
 * it. A resumed TLS 1.3 session gets no new ticket from Node's server, so none is awaited then.
 */
async function handshake(
  port: number,
  session?: Buffer,
): Promise<{ reused: boolean; ticket: Buffer | undefined; socket: tls.TLSSocket; peer: RawPeer }> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    ...(session !== undefined ? { session } : {}),
  });
  // TLS 1.3 tickets arrive after the handshake, as records to read: the peer's reading lets them in.
  const peer = new RawPeer(socket);
  const ticket = once(socket, 'session') as Promise<[Buffer]>;
  ticket.catch(() => {});
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  return { reused, ticket: reused ? undefined : (await ticket)[0], socket, peer };
}

async function close(socket: tls.TLSSocket): Promise<void> {
  if (socket.closed) return;
  const closed = once(socket, 'close');
  socket.destroy();
  await closed;
}

const serverConfig = (dataDir: string) =>
  ({
    dataDir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    apiHost: '127.0.0.1',
    store: 'memory',
    logLevel: 'silent',
  }) as const;

describe('TLS session resumption', () => {
  let loop: LoopbackGateway;
  let dataDir: string;
  let identity: ServerIdentity;
  let gateway: Gateway;
  let listeners: Listener[];

  before(async () => {
    loop = await loopbackGateway('localpush-resumption-');
    ({ dataDir, identity, gateway, listeners } = loop);
  });

  after(() => loop.close());

  it('resumes through the sniffing front of the TLS listener, and the resumed connection is served', async () => {
    const l = await listenTls(gateway, identity, { host: '127.0.0.1', port: 0 });
    listeners.push(l);
    const first = await handshake(l.address.port);
    assert.equal(first.reused, false);
    await close(first.socket);

    const second = await handshake(l.address.port, first.ticket);
    assert.equal(second.reused, true);
    await second.peer.hello('d1', 'good');
    assert.equal(gateway.isOnline('d1'), true);
    await close(second.socket);
  });

  it('resumes on the wss listener, and across listeners that share the data directory', async () => {
    const tlsListener = await listenTls(gateway, identity, { host: '127.0.0.1', port: 0 });
    const wss = await listenWebSocket(gateway, { host: '127.0.0.1', port: 0 }, { tls: identity });
    listeners.push(tlsListener, wss);
    const first = await handshake(wss.address.port);
    await close(first.socket);
    const again = await handshake(wss.address.port, first.ticket);
    assert.equal(again.reused, true);
    await close(again.socket);
    // One set of keys for every listener: a ticket from the wss port is good on the device port too.
    const across = await handshake(tlsListener.address.port, first.ticket);
    assert.equal(across.reused, true);
    await close(across.socket);
  });

  it('resumes a session of a server process that has since stopped, on the same data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localpush-restart-'));
    const otherDir = await mkdtemp(join(tmpdir(), 'localpush-other-'));
    try {
      const before = await startServer(serverConfig(dir));
      const first = await handshake(before.addresses.tls.port);
      await close(first.socket);
      await before.close({ drainTimeoutMs: 200 });

      const restarted = await startServer(serverConfig(dir));
      const other = await startServer(serverConfig(otherDir));
      try {
        const resumed = await handshake(restarted.addresses.tls.port, first.ticket);
        assert.equal(resumed.reused, true, 'the restarted server did not accept its predecessor’s ticket');
        await close(resumed.socket);
        // The control: a server with keys of its own cannot read the ticket, so the check above can fail.
        const foreign = await handshake(other.addresses.tls.port, first.ticket);
        assert.equal(foreign.reused, false);
        await close(foreign.socket);
      } finally {
        await restarted.close({ drainTimeoutMs: 200 });
        await other.close({ drainTimeoutMs: 200 });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('keeps the ticket keys owner-only, reuses them, and replaces them once they are too old', async () => {
    const path = join(dataDir, 'tls-ticket.keys');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(identity.ticketKeys.byteLength, TICKET_KEYS_BYTES);
    assert.deepEqual(await loadOrCreateTicketKeys(dataDir), identity.ticketKeys);
    const writtenAt = (await stat(path)).mtimeMs;
    const young = await loadOrCreateTicketKeys(dataDir, { now: writtenAt + TICKET_KEYS_MAX_AGE_MS - 1_000 });
    assert.deepEqual(young, identity.ticketKeys);
    const old = await loadOrCreateTicketKeys(dataDir, { now: writtenAt + TICKET_KEYS_MAX_AGE_MS + 1_000 });
    assert.notDeepEqual(old, identity.ticketKeys);
    assert.deepEqual(await readFile(path), old, 'the new keys are written for the next process');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  it('refuses to start on a corrupt ticket-key file, with a stable code, and leaves the file alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localpush-badkeys-'));
    try {
      const path = join(dir, 'tls-ticket.keys');
      const corrupt = Buffer.from('not 48 bytes of keys\n');
      await writeFile(path, corrupt, { mode: 0o600 });
      // Old enough to be rotated: the check must come first, a corrupt file is never silently replaced.
      const longAgo = new Date(Date.now() - 2 * TICKET_KEYS_MAX_AGE_MS);
      await utimes(path, longAgo, longAgo);
      await assert.rejects(startServer(serverConfig(dir)), (error: unknown) => {
        assert.ok(error instanceof LocalpushError);
        assert.equal(error.code, ServerErrorCode.TICKET_KEYS_INVALID);
        assert.match(error.message, /tls-ticket\.keys/);
        return true;
      });
      assert.deepEqual(await readFile(path), corrupt);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
