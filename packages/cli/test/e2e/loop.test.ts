/**
 * The whole loop over real loopback sockets, driven the way a person drives it: the CLI's commands run
 * in-process (device add, listen, send) against a server started by startServer on port 0 — then a
 * silenced device, and a server restart that the device survives on its own.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import { startServer, type RunningServer } from '@localpush/server';
import { addDevice, waitForState, waitUntil } from '../../../server/test/helpers/e2e.js';
import { cli } from '../helpers/run.js';
import { RawPeer } from '../../../server/test/helpers/raw-peer.js';

describe('end to end: device add → listen → send → ack', () => {
  let dataDir: string;
  let server: RunningServer;
  let api: string[];

  const start = async (ports?: { tls: number; api: number }): Promise<RunningServer> =>
    startServer({
      dataDir,
      host: '127.0.0.1',
      tlsPort: ports?.tls ?? 0,
      wsPort: null,
      apiPort: ports?.api ?? 0,
      store: 'sqlite',
      logLevel: 'silent',
      heartbeatIntervalMs: 1_000,
      heartbeatGraceMs: 500,
    });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'localpush-e2e-'));
    server = await start();
    api = ['--api', `http://127.0.0.1:${server.addresses.api.port}`, '--data-dir', dataDir];
  });

  after(async () => {
    await server.close({ drainTimeoutMs: 500 });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers what "send" sends to "listen", and the sender sees it acknowledged', async () => {
    const add = cli(['device', 'add', '--id', 'phone', ...api]);
    assert.equal(await add.code, 0, add.stderr.join(''));
    const credential = /credential\s+(\S+)/.exec(add.stdout.join(''))?.[1];
    assert.ok(credential, add.stdout.join(''));
    assert.match(
      add.stdout.join(''),
      new RegExp(`--pin ${server.identity.spkiPin.replace(/[+/]/g, '\\$&')}`),
    );

    const listen = cli([
      'listen',
      '--device',
      'phone',
      '--credential',
      credential,
      '--url',
      `tls://127.0.0.1:${server.addresses.tls.port}`,
      '--data-dir',
      dataDir,
    ]);
    await waitUntil(() => server.gateway.isOnline('phone'));

    const send = cli(['send', '--to', 'phone', 'hello from the test', ...api]);
    assert.equal(await send.code, 0, send.stderr.join('') + send.stdout.join(''));
    assert.match(send.stdout.join(''), /^phone {2}delivered {2}id=\S+/);
    assert.match(await listen.waitFor(/hello from the test/), /alert #1 .*"text":"hello from the test"/);

    const unknown = cli(['send', '--to', 'nobody', '{"a":1}', ...api]);
    assert.equal(await unknown.code, 1);
    assert.match(unknown.stdout.join(''), /nobody {2}unknown_device/);

    listen.interrupt();
    assert.equal(await listen.code, 0);
  });

  it('detects a device that stops answering heartbeats within interval + grace', async (t) => {
    const { credential } = await addDevice(server, 'silent');
    const socket = tls.connect({
      host: '127.0.0.1',
      port: server.addresses.tls.port,
      rejectUnauthorized: false,
    });
    await once(socket, 'secureConnect');
    const peer = new RawPeer(socket);
    await peer.hello('silent', credential);
    // Answer nothing from here on: the device is "silenced" the moment its welcome arrived.
    const silencedAt = performance.now();
    assert.equal((await peer.next('error')).code, 'LP_HEARTBEAT_TIMEOUT');
    const detectedMs = performance.now() - silencedAt;
    await waitUntil(() => !server.gateway.isOnline('silent'));
    t.diagnostic(
      `silent device detected after ${detectedMs.toFixed(0)} ms (interval 1000 ms + grace 500 ms)`,
    );
    socket.destroy();
  });

  it('survives a server restart: the client reconnects by itself and gets what was sent meanwhile', async () => {
    const { credential } = await addDevice(server, 'survivor');
    const received: Push[] = [];
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${server.addresses.tls.port}`,
      deviceId: 'survivor',
      credential,
      pin: server.identity.spkiPin,
      backoff: { initialMs: 50, maxMs: 500 },
      onPush: (push) => {
        received.push(push);
      },
    });
    client.start();
    await waitForState(client, 'connected');

    const ports = { tls: server.addresses.tls.port, api: server.addresses.api.port };
    await server.close({ drainTimeoutMs: 1_000 });
    await waitForState(client, 'backoff');
    server = await start(ports);
    // Sent while the device is still away: kept in SQLite and delivered on its reconnection.
    const outcome = await server.engine.submit({
      deviceId: 'survivor',
      kind: 'message',
      payload: { n: 1 },
      priority: 10,
    });
    assert.equal(outcome.status, 'queued');
    await waitForState(client, 'connected');
    await waitUntil(() => received.length === 1);
    assert.deepEqual(received[0]?.payload, { n: 1 });
    await waitUntil(async () => (await server.engine.status(outcome.id))?.message.state === 'acked');
    await client.stop();
  });
});
