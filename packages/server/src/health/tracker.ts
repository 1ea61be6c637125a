/**
 * What the server sees of each device's connection [LP-10.4, docs/http-api.md "Connection health"]: its
 * recent sessions (when each opened and closed, and why), the round-trip times of its heartbeat acks, the
 * time it spent offline, and the network it reported with its hello. Fed by the gateway's session
 * observer (authoritative sessions only: a diagnostic session never counts, LP-10.3); read by the health
 * routes and `localpush doctor --server`.
 *
 * Memory is bounded: per device a ring of the last {@link HealthLimits.sessions} sessions and of the last
 * {@link HealthLimits.rttSamples} RTTs, and at most {@link HealthLimits.devices} devices (the least
 * recently active is forgotten first). Time comes from the injected clock only.
 */
import { percentile, type HelloNetwork } from '@localpush/protocol';

/** The window of "recent": reconnects, close reasons and offline time are counted over the last hour. */
export const HEALTH_WINDOW_MS = 3_600_000;

export interface HealthLimits {
  /** Sessions remembered per device; more than any flapping threshold (which is at most this less one). */
  readonly sessions: number;
  /** Heartbeat RTTs remembered per device (at the default 20 s interval, 128 is about 43 minutes). */
  readonly rttSamples: number;
  /** Devices tracked at once. */
  readonly devices: number;
}

/**
 * Reconnects in an hour from which a device is flapping. Six is one every ten minutes: far more than a
 * device that roams or sleeps does, and what a failing access point or a flaky route produces.
 */
export const DEFAULT_FLAPPING_RECONNECTS = 6;

export const DEFAULT_HEALTH_LIMITS: HealthLimits = { sessions: 64, rttSamples: 128, devices: 100_000 };

/** One session of a device, as the server saw it. */
export interface SessionRecord {
  /** 1 for the first session this server saw of the device, then counting up. */
  readonly serial: number;
  readonly openedAt: number;
  closedAt: number | null;
  /** Why it closed (`peer_closed`, `replaced`, `goaway:shutdown`, an LP_ error code, …), null while open. */
  reason: string | null;
  readonly network: HelloNetwork | null;
}

export interface RttSummary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lastMs: number;
}

/** A device's health, as served by `GET /v1/devices/:id/health`. */
export interface DeviceHealthReport {
  readonly deviceId: string;
  readonly online: boolean;
  /** When this server first saw a session of the device (it knows nothing before); null: never. */
  readonly trackedSince: number | null;
  readonly sessions: number;
  /** Sessions opened in the last hour after an earlier one (a reconnect, whatever ended the one before). */
  readonly reconnectsLastHour: number;
  /** How the sessions that ended in the last hour ended. */
  readonly closeReasonsLastHour: Record<string, number>;
  readonly flapping: boolean;
  /** Offline time within the last hour (since tracking began, if that is later). */
  readonly offlineMsLastHour: number;
  /** Offline time since tracking began. */
  readonly offlineMsTotal: number;
  /** Since when it has been offline; null when online. */
  readonly offlineSince: number | null;
  /** Round trips of its recent heartbeat acks; null before the first. */
  readonly rtt: RttSummary | null;
  /** What the device reported with its latest hello [LP-10.4]; null when it reported nothing. */
  readonly network: HelloNetwork | null;
  /** The latest sessions, newest first (at most 10). */
  readonly recentSessions: SessionRecord[];
}

/** Devices on one access point (by BSSID), as served by `GET /v1/health/access-points`. */
export interface AccessPointReport {
  readonly bssid: string;
  readonly ssid: string | null;
  /** Devices with a session on it in the last hour. */
  readonly devices: number;
  readonly online: number;
  /** Reconnects of its devices in the last hour whose new session reported this BSSID. */
  readonly reconnectsLastHour: number;
  /** Heartbeat RTTs measured while the device's session reported this BSSID. */
  readonly rtt: RttSummary | null;
  /** Median of the signal its devices reported. */
  readonly signalDbm: number | null;
}

/** A fixed-capacity ring: the newest `capacity` items, oldest first when read. */
class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;
  constructor(private readonly capacity: number) {}
  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }
  /** Oldest first. */
  toArray(): T[] {
    return this.items.length < this.capacity
      ? [...this.items]
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
  get last(): T | undefined {
    return this.items[(this.next + this.capacity - 1) % this.capacity];
  }
}

/** One RTT sample and the serial of the session it was measured on (for grouping by access point). */
interface RttSample {
  readonly ms: number;
  readonly serial: number;
}

class DeviceEntry {
  readonly sessions: Ring<SessionRecord>;
  readonly rtts: Ring<RttSample>;
  serial = 0;
  offlineMsTotal = 0;
  constructor(
    readonly trackedSince: number,
    limits: HealthLimits,
  ) {
    this.sessions = new Ring(limits.sessions);
    this.rtts = new Ring(limits.rttSamples);
  }
  get current(): SessionRecord | undefined {
    const last = this.sessions.last;
    return last !== undefined && last.closedAt === null ? last : undefined;
  }
}

function summarise(samples: readonly number[]): RttSummary | null {
  const last = samples.at(-1);
  if (last === undefined) return null;
  return {
    samples: samples.length,
    p50Ms: percentile(samples, 50) ?? last,
    p99Ms: percentile(samples, 99) ?? last,
    lastMs: last,
  };
}

export interface HealthTrackerOptions {
  readonly now: () => number;
  /** Reconnects in the last hour from which a device counts as flapping. */
  readonly flappingReconnects: number;
  readonly limits?: Partial<HealthLimits>;
}

export class DeviceHealthTracker {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly limits: HealthLimits;
  readonly flappingReconnects: number;

  constructor(private readonly options: HealthTrackerOptions) {
    this.limits = { ...DEFAULT_HEALTH_LIMITS, ...options.limits };
    // A threshold the ring cannot see would never flag anyone.
    this.flappingReconnects = Math.min(options.flappingReconnects, this.limits.sessions - 1);
  }

  /** Number of devices tracked. */
  get size(): number {
    return this.devices.size;
  }

  /** A session of the device opened. One still open is closed as `replaced` (LP-8.2). */
  opened(deviceId: string, network: HelloNetwork | undefined): void {
    const now = this.options.now();
    const entry = this.touch(deviceId, now);
    const current = entry.current;
    if (current !== undefined) this.close(current, now, 'replaced');
    else {
      const last = entry.sessions.last;
      if (last?.closedAt != null) entry.offlineMsTotal += now - last.closedAt;
    }
    entry.serial += 1;
    entry.sessions.push({
      serial: entry.serial,
      openedAt: now,
      closedAt: null,
      reason: null,
      network: network ?? null,
    });
  }

  /** The device's session closed, for `reason`. */
  closed(deviceId: string, reason: string): void {
    const entry = this.devices.get(deviceId);
    const current = entry?.current;
    if (current !== undefined) this.close(current, this.options.now(), reason);
  }

  /** A heartbeat of the device's session was acknowledged `rttMs` after it was written. */
  heartbeatRtt(deviceId: string, rttMs: number): void {
    const entry = this.devices.get(deviceId);
    const current = entry?.current;
    if (entry === undefined || current === undefined) return;
    entry.rtts.push({ ms: rttMs, serial: current.serial });
  }

  /** Forgets a device (it was removed). */
  forget(deviceId: string): void {
    this.devices.delete(deviceId);
  }

  /** The device's health; a device this server never saw a session of gets an empty report. */
  report(deviceId: string): DeviceHealthReport {
    const entry = this.devices.get(deviceId);
    if (entry !== undefined) return this.reportOf(deviceId, entry, this.options.now());
    return {
      deviceId,
      online: false,
      trackedSince: null,
      sessions: 0,
      reconnectsLastHour: 0,
      closeReasonsLastHour: {},
      flapping: false,
      offlineMsLastHour: 0,
      offlineMsTotal: 0,
      offlineSince: null,
      rtt: null,
      network: null,
      recentSessions: [],
    };
  }

  /** Every tracked device, worst first: flapping, then reconnects, offline time and RTT p99. */
  worstDevices(): DeviceHealthReport[] {
    const now = this.options.now();
    const reports = [...this.devices].map(([id, entry]) => this.reportOf(id, entry, now));
    return reports.sort(
      (a, b) =>
        Number(b.flapping) - Number(a.flapping) ||
        b.reconnectsLastHour - a.reconnectsLastHour ||
        b.offlineMsLastHour - a.offlineMsLastHour ||
        (b.rtt?.p99Ms ?? -1) - (a.rtt?.p99Ms ?? -1) ||
        a.deviceId.localeCompare(b.deviceId),
    );
  }

  /** Access points (by the BSSID devices reported) seen in the last hour, worst first. */
  accessPoints(): AccessPointReport[] {
    const now = this.options.now();
    const groups = new Map<string, ApGroup>();
    for (const entry of this.devices.values()) addToGroups(groups, entry, now - HEALTH_WINDOW_MS);
    const reports = [...groups].map(([bssid, g]): AccessPointReport => {
      const signals = [...g.signals.values()].sort((a, b) => a - b);
      return {
        bssid,
        ssid: g.ssid,
        devices: g.devices.size,
        online: g.online,
        reconnectsLastHour: g.reconnects,
        rtt: summarise(g.rtts),
        signalDbm: signals.length === 0 ? null : (signals[Math.floor((signals.length - 1) / 2)] ?? null),
      };
    });
    return reports.sort(
      (a, b) =>
        b.reconnectsLastHour - a.reconnectsLastHour ||
        (b.rtt?.p99Ms ?? -1) - (a.rtt?.p99Ms ?? -1) ||
        a.bssid.localeCompare(b.bssid),
    );
  }

  private close(session: SessionRecord, now: number, reason: string): void {
    session.closedAt = now;
    session.reason = reason;
  }

  /** The device's entry, made the most recently active (a Map keeps insertion order: oldest first). */
  private touch(deviceId: string, now: number): DeviceEntry {
    const entry = this.devices.get(deviceId) ?? new DeviceEntry(now, this.limits);
    this.devices.delete(deviceId);
    this.devices.set(deviceId, entry);
    if (this.devices.size > this.limits.devices) {
      const oldest = this.devices.keys().next().value;
      if (oldest !== undefined) this.devices.delete(oldest);
    }
    return entry;
  }

  private reportOf(deviceId: string, entry: DeviceEntry, now: number): DeviceHealthReport {
    const since = now - HEALTH_WINDOW_MS;
    const sessions = entry.sessions.toArray();
    const last = sessions.at(-1);
    const reconnects = sessions.filter((s) => s.serial > 1 && s.openedAt > since).length;
    const reasons: Record<string, number> = {};
    for (const s of sessions) {
      if (s.reason !== null && s.closedAt !== null && s.closedAt > since) {
        reasons[s.reason] = (reasons[s.reason] ?? 0) + 1;
      }
    }
    const offlineSince = last === undefined || last.closedAt === null ? null : last.closedAt;
    return {
      deviceId,
      online: offlineSince === null,
      trackedSince: entry.trackedSince,
      sessions: entry.serial,
      reconnectsLastHour: reconnects,
      closeReasonsLastHour: reasons,
      flapping: reconnects >= this.flappingReconnects,
      offlineMsLastHour: offlineWithin(sessions, Math.max(since, entry.trackedSince), now),
      offlineMsTotal: entry.offlineMsTotal + (offlineSince === null ? 0 : now - offlineSince),
      offlineSince,
      rtt: summarise(entry.rtts.toArray().map((r) => r.ms)),
      network: last?.network ?? null,
      recentSessions: sessions
        .slice(-10)
        .reverse()
        .map((session) => ({ ...session })),
    };
  }
}

/** The offline time in [from, now]: the gaps between the remembered sessions, and after the last one. */
function offlineWithin(sessions: readonly SessionRecord[], from: number, now: number): number {
  let offline = 0;
  for (let i = 0; i < sessions.length; i += 1) {
    const closedAt = sessions[i]?.closedAt;
    if (closedAt === null || closedAt === undefined) continue;
    const until = sessions[i + 1]?.openedAt ?? now;
    offline += Math.max(0, until - Math.max(closedAt, from));
  }
  return offline;
}

interface ApGroup {
  ssid: string | null;
  readonly devices: Set<DeviceEntry>;
  online: number;
  reconnects: number;
  readonly rtts: number[];
  /** Each device's latest reported signal on this access point. */
  readonly signals: Map<DeviceEntry, number>;
}

/** Adds the device's sessions of the window that reported a BSSID to their access points' groups. */
function addToGroups(groups: Map<string, ApGroup>, entry: DeviceEntry, since: number): void {
  const bySerial = new Map<number, ApGroup>();
  for (const s of entry.sessions.toArray()) {
    const bssid = s.network?.bssid?.toLowerCase();
    if (bssid === undefined || (s.closedAt !== null && s.closedAt <= since)) continue;
    let group = groups.get(bssid);
    if (group === undefined) {
      group = { ssid: null, devices: new Set(), online: 0, reconnects: 0, rtts: [], signals: new Map() };
      groups.set(bssid, group);
    }
    group.ssid = s.network?.ssid ?? group.ssid;
    if (s.network?.signalDbm !== undefined) group.signals.set(entry, s.network.signalDbm);
    group.devices.add(entry);
    if (s.closedAt === null) group.online += 1;
    if (s.serial > 1 && s.openedAt > since) group.reconnects += 1;
    bySerial.set(s.serial, group);
  }
  for (const r of entry.rtts.toArray()) bySerial.get(r.serial)?.rtts.push(r.ms);
}
