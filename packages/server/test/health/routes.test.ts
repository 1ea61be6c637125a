/**
 * The server's view of devices over real loopback sockets: a DeviceClient that reports its Wi-Fi
 * [LP-10.4] connects, answers heartbeats and reconnects; the health routes show its RTT, reconnects and
 * close reasons, flag it as flapping at the configured threshold, and group it by access point.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { DeviceClient } from '@localpush/client';
import type { ServerPlugin, SessionObserver } from '../../src/core.js';
import { healthPlugin } from '../../src/health/plugin.js';
import type { DeviceHealthReport } from '../../src/health/tracker.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';

/** Resolves on the n-th event of a kind the gateway tells plugins: an awaitable view of the sessions. */
class SessionEvents {
  private readonly counts = { opened: 0, closed: 0, heartbeatRtt: 0 };
  private readonly waiters: (() => void)[] = [];
  readonly plugin: ServerPlugin = {
    name: 'test session events',
    setup: () => {
      const bump = (kind: keyof SessionEvents['counts']) => () => {
        this.counts[kind] += 1;
        for (const w of this.waiters.splice(0)) w();
      };
      const sessions: SessionObserver = {
        opened: bump('opened'),
        closed: bump('closed'),
        heartbeatRtt: bump('heartbeatRtt'),
      };
      return { hooks: { sessions } };
    },
  };
  async until(kind: keyof SessionEvents['counts'], n: number): Promise<void> {
    while (this.counts[kind] < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

const NETWORK = { ssid: 'Ward 7', bssid: 'aa:bb:cc:dd:ee:07', signalDbm: -67 };

describe('connection health routes', () => {
  let lp: LoopbackServer;
  let credential: string;
  const events = new SessionEvents();

  before(async () => {
    lp = await startLoopbackServer(
      'lp-health-',
      { heartbeatIntervalMs: 1000, heartbeatGraceMs: 1000, flappingReconnects: 2 },
      { plugins: [events.plugin] },
    );
    credential = (await lp.call<{ credential: string }>('POST', '/v1/devices', { id: 'ward-7' })).body
      .credential;
    await lp.call('POST', '/v1/devices', { id: 'quiet' });
  });
  after(() => lp.close());

  it('shows a device’s RTT, reconnects and close reasons, flags flapping, and groups by BSSID', async () => {
    const device = new DeviceClient({
      url: `tls://127.0.0.1:${lp.server.addresses.tls.port}`,
      deviceId: 'ward-7',
      credential,
      pin: lp.server.identity.spkiPin,
      reportNetwork: () => NETWORK,
    });
    device.start();
    try {
      await once(device, 'connected');
      await events.until('heartbeatRtt', 1);
      const first = await lp.call<DeviceHealthReport>('GET', '/v1/devices/ward-7/health');
      assert.equal(first.status, 200);
      assert.equal(first.body.online, true);
      assert.equal(first.body.reconnectsLastHour, 0);
      assert.deepEqual(first.body.network, NETWORK);
      assert.ok(first.body.rtt !== null && first.body.rtt.samples >= 1);
      assert.ok(first.body.rtt.p99Ms >= first.body.rtt.p50Ms && first.body.rtt.p50Ms >= 0);

      for (let i = 1; i <= 2; i += 1) {
        device.reconnect();
        await events.until('opened', 1 + i);
      }
      const list = await lp.call<{
        devices: DeviceHealthReport[];
        total: number;
        flappingReconnects: number;
      }>('GET', '/v1/health/devices?limit=1');
      assert.equal(list.status, 200);
      assert.equal(list.body.flappingReconnects, 2);
      assert.equal(list.body.total, 1, 'only devices the server saw a session of');
      const [worst] = list.body.devices;
      assert.equal(worst?.deviceId, 'ward-7');
      assert.equal(worst.flapping, true);
      assert.equal(worst.reconnectsLastHour, 2);
      assert.equal(worst.sessions, 3);
      assert.equal(
        Object.values(worst.closeReasonsLastHour).reduce((a, b) => a + b, 0),
        2,
      );

      const flapping = await lp.call<{ total: number }>('GET', '/v1/health/devices?flapping=false');
      assert.equal(flapping.body.total, 0);

      const aps = await lp.call<{
        accessPoints: { bssid: string; devices: number; reconnectsLastHour: number }[];
      }>('GET', '/v1/health/access-points');
      assert.equal(aps.status, 200);
      assert.deepEqual(
        aps.body.accessPoints.map((a) => [a.bssid, a.devices, a.reconnectsLastHour]),
        [[NETWORK.bssid, 1, 2]],
      );
    } finally {
      await device.stop();
    }
    await events.until('closed', 3);
    const gone = await lp.call<DeviceHealthReport>('GET', '/v1/devices/ward-7/health');
    assert.equal(gone.body.online, false);
    assert.equal(typeof gone.body.offlineSince, 'number');
    assert.equal(gone.body.recentSessions[0]?.reason, 'peer_closed');
  });

  it('answers an empty report for a device never seen, 404 for no device, 400 for a bad page, 401 without the key', async () => {
    const quiet = await lp.call<DeviceHealthReport>('GET', '/v1/devices/quiet/health');
    assert.equal(quiet.status, 200);
    assert.equal(quiet.body.trackedSince, null);
    assert.equal(quiet.body.rtt, null);
    const missing = await lp.call<{ error: { code: string } }>('GET', '/v1/devices/nobody/health');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'LP_API_DEVICE_NOT_FOUND');
    for (const query of ['limit=0', 'limit=1001', 'offset=-1', 'flapping=maybe', 'color=red']) {
      const bad = await lp.call<{ error: { code: string } }>('GET', `/v1/health/devices?${query}`);
      assert.equal(bad.status, 400, query);
    }
    const anonymous = await fetch(`http://127.0.0.1:${lp.server.addresses.api.port}/v1/health/devices`);
    assert.equal(anonymous.status, 401);
    assert.ok(lp.server.plugin(healthPlugin) !== null);
  });
});
