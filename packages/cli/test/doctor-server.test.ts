/**
 * `localpush doctor --server` against a real server on loopback: a device that reports its Wi-Fi
 * [LP-10.4] reconnects until it is flapping; the doctor prints it worst first with its access point, one
 * device in detail with --device, the same as JSON, and exits 1 while a device flaps, 2 when the API
 * cannot be asked.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { ServerPlugin } from '@localpush/server';
import { startLoopbackServer, type LoopbackServer } from '../../server/test/helpers/loopback-server.js';
import { cli } from './helpers/run.js';

/** Resolves once the gateway has opened `n` sessions: the reconnects are awaited, not slept on. */
function openedSessions(): { plugin: ServerPlugin; until: (n: number) => Promise<void> } {
  let opened = 0;
  const waiters: (() => void)[] = [];
  return {
    plugin: {
      name: 'test: sessions opened',
      setup: () => ({
        hooks: {
          sessions: {
            opened: () => {
              opened += 1;
              for (const w of waiters.splice(0)) w();
            },
            closed: () => {},
            heartbeatRtt: () => {},
          },
        },
      }),
    },
    async until(n) {
      while (opened < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

const NETWORK = { ssid: 'Deck 4', bssid: '02:00:00:00:04:01', signalDbm: -71 };

describe('localpush doctor --server', () => {
  let lp: LoopbackServer;
  let api: string;
  const sessions = openedSessions();
  let device: DeviceClient;

  before(async () => {
    lp = await startLoopbackServer(
      'lp-doctor-server-',
      { flappingReconnects: 2 },
      { plugins: [sessions.plugin] },
    );
    api = `http://127.0.0.1:${lp.server.addresses.api.port}`;
    const { credential } = (await lp.call<{ credential: string }>('POST', '/v1/devices', { id: 'cabin-12' }))
      .body;
    device = new DeviceClient({
      url: `tls://127.0.0.1:${lp.server.addresses.tls.port}`,
      deviceId: 'cabin-12',
      credential,
      pin: lp.server.identity.spkiPin,
      reportNetwork: () => NETWORK,
    });
    device.start();
    await once(device, 'connected');
  });
  after(async () => {
    await device.stop();
    await lp.close();
  });

  it('prints a healthy view and exits 0, then the flapping device and its access point and exits 1', async () => {
    const calm = cli(['doctor', '--server', api, '--key', lp.server.providerKey]);
    assert.equal(await calm.code, 0, calm.stderr.join(''));
    assert.match(calm.stdout.join(''), /cabin-12\s+online\s+0\s/);

    for (let n = 2; n <= 3; n += 1) {
      device.reconnect();
      await sessions.until(n);
    }
    const run = cli(['doctor', '--server', api, '--key', lp.server.providerKey]);
    assert.equal(await run.code, 1, run.stderr.join(''));
    const text = run.stdout.join('');
    assert.match(text, /flapping at ≥ 2 reconnects/);
    assert.match(text, /cabin-12\s+online\s+2 FLAPPING/);
    assert.match(text, /02:00:00:00:04:01\s+Deck 4\s+1\s+1\s+2\s/);
    assert.match(text, /-71 dBm/);

    const one = cli(['doctor', '--server', api, '--key', lp.server.providerKey, '--device', 'cabin-12']);
    assert.equal(await one.code, 1);
    assert.match(one.stdout.join(''), /recent sessions \(newest first\)/);
    assert.match(one.stdout.join(''), /\b3\s+\S+\s+open\s+–\s+02:00:00:00:04:01/);

    const json = cli(['doctor', '--server', api, '--key', lp.server.providerKey, '--json']);
    assert.equal(await json.code, 1);
    const report = JSON.parse(json.stdout.join('')) as {
      devices: { devices: { deviceId: string; flapping: boolean }[] };
      accessPoints: { accessPoints: { bssid: string }[] };
    };
    assert.deepEqual(
      report.devices.devices.map((d) => [d.deviceId, d.flapping]),
      [['cabin-12', true]],
    );
    assert.deepEqual(
      report.accessPoints.accessPoints.map((a) => a.bssid),
      [NETWORK.bssid],
    );
  });

  it('exits 2 when the API refuses or cannot be reached, naming why', async () => {
    const wrongKey = cli(['doctor', '--server', api, '--key', 'lpk_wrong']);
    assert.equal(await wrongKey.code, 2);
    // The CLI's one advice for a refused provider key (the same as send's): where the key came from and
    // where to find the right one.
    assert.match(wrongKey.stderr.join(''), /refused the provider key from --key/);
    const unknown = cli(['doctor', '--server', api, '--key', lp.server.providerKey, '--device', 'nobody']);
    assert.equal(await unknown.code, 2);
    assert.match(unknown.stderr.join(''), /answered 404: no device with id "nobody"/);
    const badLimit = cli(['doctor', '--server', api, '--key', lp.server.providerKey, '--limit', '0']);
    assert.equal(await badLimit.code, 2);
  });
});
