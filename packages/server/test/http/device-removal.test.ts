/**
 * `DELETE /v1/devices/:id` cuts the device's live connection at once (docs/http-api.md, LP-4.4): a real
 * server on port 0, a real DeviceClient over TLS, the DELETE over real HTTP. The client is told
 * LP_AUTH_FAILED and stops instead of reconnecting.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceClient, type StopReason } from '@localpush/client';
import { startServer, type RunningServer } from '../../src/server.js';
import { addDevice, waitForState } from '../helpers/e2e.js';

describe('DELETE /v1/devices/:id with the device connected', () => {
  let server: RunningServer;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-device-removal-'));
    server = await startServer({
      dataDir: dir,
      host: '127.0.0.1',
      tlsPort: 0,
      wsPort: null,
      apiPort: 0,
      store: 'memory',
      logLevel: 'silent',
    });
  });
  after(async () => {
    await server.close({ drainTimeoutMs: 200 });
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts the live connection with LP_AUTH_FAILED, and the client stops', async () => {
    const { credential } = await addDevice(server, 'doomed');
    const client = new DeviceClient({
      url: `tls://127.0.0.1:${server.addresses.tls.port}`,
      deviceId: 'doomed',
      credential,
      pin: server.identity.spkiPin,
      onPush: () => {},
    });
    try {
      client.start();
      await waitForState(client, 'connected');
      const stopped = once(client, 'stopped') as Promise<[StopReason]>;
      const removed = await fetch(`http://127.0.0.1:${server.addresses.api.port}/v1/devices/doomed`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${server.providerKey}` },
      });
      assert.equal(removed.status, 204, await removed.text());
      const [reason] = await stopped;
      assert.equal(reason.kind, 'fatal');
      assert.equal(reason.kind === 'fatal' ? reason.code : undefined, 'LP_AUTH_FAILED');
      assert.equal(server.engine.isOnline('doomed'), false);
    } finally {
      await client.stop();
    }
  });
});
