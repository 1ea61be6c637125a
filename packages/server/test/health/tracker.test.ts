/**
 * The health tracker on an injected clock: reconnects and their close reasons over the last hour, the
 * flapping threshold, offline time, heartbeat RTT percentiles, grouping by access point, and its bounds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceHealthTracker, HEALTH_WINDOW_MS } from '../../src/health/tracker.js';

function tracker(options: { flappingReconnects?: number; limits?: object } = {}) {
  let now = 1_000_000;
  const t = new DeviceHealthTracker({
    now: () => now,
    flappingReconnects: options.flappingReconnects ?? 3,
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
  });
  return { t, advance: (ms: number) => (now += ms), now: () => now };
}

const AP1 = { ssid: 'Ward 7', bssid: 'aa:bb:cc:00:00:01', signalDbm: -60 };
const AP2 = { ssid: 'Ward 7', bssid: 'AA:BB:CC:00:00:02', signalDbm: -80 };

describe('the device health tracker', () => {
  it('counts reconnects and why the sessions before them ended, and offline time', () => {
    const { t, advance } = tracker();
    t.opened('d1', undefined);
    advance(60_000);
    t.closed('d1', 'LP_HEARTBEAT_TIMEOUT');
    advance(5_000);
    t.opened('d1', undefined);
    advance(1_000);
    t.opened('d1', undefined); // the newer connection replaces the open one [LP-8.2]
    advance(2_000);
    t.closed('d1', 'peer_closed');
    advance(3_000);
    const r = t.report('d1');
    assert.equal(r.online, false);
    assert.equal(r.sessions, 3);
    assert.equal(r.reconnectsLastHour, 2);
    assert.deepEqual(r.closeReasonsLastHour, { LP_HEARTBEAT_TIMEOUT: 1, replaced: 1, peer_closed: 1 });
    assert.equal(r.flapping, false);
    assert.equal(r.offlineMsLastHour, 5_000 + 3_000);
    assert.equal(r.offlineMsTotal, 8_000);
    assert.equal(r.offlineSince, 1_000_000 + 68_000);
    assert.deepEqual(
      r.recentSessions.map((s) => [s.serial, s.reason]),
      [
        [3, 'peer_closed'],
        [2, 'replaced'],
        [1, 'LP_HEARTBEAT_TIMEOUT'],
      ],
    );
  });

  it('flags a device at the threshold, and forgets reconnects older than the window', () => {
    const { t, advance } = tracker({ flappingReconnects: 3 });
    for (let i = 0; i < 4; i += 1) {
      t.opened('d1', undefined);
      advance(1_000);
      t.closed('d1', 'peer_closed');
      advance(1_000);
    }
    t.opened('d1', undefined);
    assert.equal(t.report('d1').reconnectsLastHour, 4);
    assert.equal(t.report('d1').flapping, true);
    advance(HEALTH_WINDOW_MS);
    const later = t.report('d1');
    assert.equal(later.reconnectsLastHour, 0);
    assert.deepEqual(later.closeReasonsLastHour, {});
    assert.equal(later.flapping, false);
    // Online for the whole of the last hour.
    assert.equal(later.offlineMsLastHour, 0);
    assert.equal(later.offlineMsTotal, 4_000);
  });

  it('summarises heartbeat RTTs by nearest rank and keeps only the latest samples', () => {
    const { t } = tracker({ limits: { rttSamples: 100 } });
    t.opened('d1', undefined);
    for (let ms = 1; ms <= 150; ms += 1) t.heartbeatRtt('d1', ms);
    // The ring holds 51–150.
    assert.deepEqual(t.report('d1').rtt, { samples: 100, p50Ms: 100, p99Ms: 149, lastMs: 150 });
    t.heartbeatRtt('ghost', 5); // no session: nothing kept
    assert.equal(t.size, 1);
  });

  it('lists devices worst first: flapping, then reconnects, offline time, RTT p99', () => {
    const { t, advance } = tracker({ flappingReconnects: 2 });
    t.opened('calm', undefined);
    t.heartbeatRtt('calm', 900);
    t.opened('slow', undefined);
    t.heartbeatRtt('slow', 1_500);
    for (let i = 0; i < 3; i += 1) t.opened('flappy', undefined);
    t.opened('once', undefined);
    t.closed('once', 'peer_closed');
    advance(10);
    t.opened('once', undefined);
    assert.deepEqual(
      t.worstDevices().map((d) => d.deviceId),
      ['flappy', 'once', 'slow', 'calm'],
    );
  });

  it('groups sessions, reconnects and RTTs by the BSSID the device reported', () => {
    const { t } = tracker();
    t.opened('d1', AP1);
    t.heartbeatRtt('d1', 10);
    t.opened('d1', AP2); // roamed: a new session on the second access point
    t.heartbeatRtt('d1', 200);
    t.heartbeatRtt('d1', 300);
    t.opened('d2', { ...AP1, signalDbm: -50 });
    t.heartbeatRtt('d2', 20);
    t.opened('d3', undefined); // reported nothing: in no group
    const aps = t.accessPoints();
    assert.deepEqual(
      aps.map((a) => [a.bssid, a.devices, a.online, a.reconnectsLastHour, a.rtt?.samples, a.signalDbm]),
      [
        ['aa:bb:cc:00:00:02', 1, 1, 1, 2, -80],
        ['aa:bb:cc:00:00:01', 2, 1, 0, 2, -60],
      ],
    );
    assert.equal(aps[0]?.ssid, 'Ward 7');
    assert.equal(aps[0]?.rtt?.p99Ms, 300);
  });

  it('remembers a bounded number of sessions and devices, the least recently active forgotten first', () => {
    const { t } = tracker({ flappingReconnects: 100, limits: { sessions: 8, devices: 2 } });
    assert.equal(t.flappingReconnects, 7, 'a threshold the ring cannot see is lowered to what it can');
    for (let i = 0; i < 20; i += 1) t.opened('d1', undefined);
    assert.equal(t.report('d1').sessions, 20);
    assert.equal(t.report('d1').reconnectsLastHour, 8);
    assert.equal(t.report('d1').flapping, true);
    t.opened('d2', undefined);
    t.opened('d1', undefined);
    t.opened('d3', undefined);
    assert.equal(t.size, 2);
    assert.equal(t.report('d2').trackedSince, null, 'd2 was the least recently active');
    assert.equal(t.report('d1').sessions, 21);
  });
});
