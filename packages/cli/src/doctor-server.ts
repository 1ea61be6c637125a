/**
 * `localpush doctor --server`: the server's view of the devices' connections (docs/http-api.md
 * "Connection health") — the worst devices and access points, or one device with `--device` — so a site
 * can tell whether one device, one access point or everything is at fault.
 */
import type { AccessPointReport, DeviceHealthReport, RttSummary } from '@localpush/server';
import { CliError, EXIT, apiTarget, callApi, requireInteger, type ApiTarget, type CliIo } from './common.js';

interface DeviceList {
  devices: DeviceHealthReport[];
  total: number;
  flappingReconnects: number;
  windowMs: number;
}

interface AccessPointList {
  accessPoints: AccessPointReport[];
  total: number;
}

/** What `--json` prints: the answers of the health routes, as they came. */
export interface ServerViewReport {
  server: string;
  devices?: DeviceList;
  accessPoints?: AccessPointList;
  device?: DeviceHealthReport;
}

export interface ServerViewFlags {
  server: string;
  key?: string | undefined;
  'data-dir'?: string | undefined;
  device?: string | undefined;
  limit?: string | undefined;
  json?: boolean | undefined;
}

/** The API's answer; a failure to get it is a failed check (exit 2), as in the device's doctor. */
async function ask<T>(target: ApiTarget, path: string): Promise<T> {
  try {
    return await callApi<T>(target, 'GET', path);
  } catch (error) {
    if (error instanceof CliError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

/** Exit 0 when no device shown is flapping, 1 when one is (a warning), 2 when the API cannot be asked. */
export async function serverView(flags: ServerViewFlags, io: CliIo): Promise<number> {
  const target = await apiTarget({ api: flags.server, key: flags.key, 'data-dir': flags['data-dir'] }, io);
  const limit = requireInteger('limit', flags.limit, 1, 1000) ?? 10;
  const report: ServerViewReport = { server: target.url };
  if (flags.device !== undefined) {
    report.device = await ask<DeviceHealthReport>(
      target,
      `/v1/devices/${encodeURIComponent(flags.device)}/health`,
    );
  } else {
    report.devices = await ask<DeviceList>(target, `/v1/health/devices?limit=${limit}`);
    report.accessPoints = await ask<AccessPointList>(target, `/v1/health/access-points?limit=${limit}`);
  }
  io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatServerView(report));
  const shown = report.device !== undefined ? [report.device] : (report.devices?.devices ?? []);
  return shown.some((d) => d.flapping) ? EXIT.failure : EXIT.ok;
}

const rttText = (rtt: RttSummary | null): string =>
  rtt === null ? '–' : `${round(rtt.p50Ms)} / ${round(rtt.p99Ms)} ms`;

const round = (ms: number): string => (ms < 10 ? ms.toFixed(1) : String(Math.round(ms)));

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function reasonsText(reasons: Record<string, number>): string {
  const entries = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '–' : entries.map(([r, n]) => `${r}×${n}`).join(', ');
}

function networkText(d: DeviceHealthReport): string {
  const n = d.network;
  if (n === null) return '–';
  return [n.ssid, n.bssid, n.signalDbm === undefined ? undefined : `${n.signalDbm} dBm`]
    .filter((x) => x !== undefined)
    .join(' ');
}

/** Left-aligned columns, two spaces apart. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}\n`).join('');
}

function deviceRow(d: DeviceHealthReport): string[] {
  return [
    d.deviceId,
    d.online
      ? 'online'
      : d.offlineSince === null
        ? 'never seen'
        : `offline since ${new Date(d.offlineSince).toISOString().slice(11, 19)}Z`,
    `${d.reconnectsLastHour}${d.flapping ? ' FLAPPING' : ''}`,
    reasonsText(d.closeReasonsLastHour),
    rttText(d.rtt),
    duration(d.offlineMsLastHour),
    networkText(d),
  ];
}

const DEVICE_HEADER = [
  'DEVICE',
  'STATE',
  'RECONNECTS',
  'CLOSE REASONS',
  'RTT P50 / P99',
  'OFFLINE',
  'NETWORK',
];

/** The report as a site reads it; the figures are the server's, over the last hour. */
export function formatServerView(report: ServerViewReport): string {
  let out = `The server's view (${report.server}), over the last hour:\n`;
  const one = report.device;
  if (one !== undefined) {
    out += `\n${table(DEVICE_HEADER, [deviceRow(one)])}`;
    out += `\n  sessions seen: ${one.sessions}; offline ${duration(one.offlineMsTotal)} in all since ${
      one.trackedSince === null ? '–' : new Date(one.trackedSince).toISOString()
    }; RTT samples: ${one.rtt?.samples ?? 0}\n`;
    out += `\n  recent sessions (newest first):\n`;
    out += table(
      ['#', 'OPENED', 'CLOSED', 'REASON', 'BSSID'],
      one.recentSessions.map((s) => [
        String(s.serial),
        new Date(s.openedAt).toISOString(),
        s.closedAt === null ? 'open' : new Date(s.closedAt).toISOString(),
        s.reason ?? '–',
        s.network?.bssid ?? '–',
      ]),
    );
    return out;
  }
  const devices = report.devices;
  if (devices !== undefined) {
    const flapping = devices.devices.filter((d) => d.flapping).length;
    out += `\nDevices, worst first (${devices.devices.length} of ${devices.total}; flapping at ≥ ${devices.flappingReconnects} reconnects an hour):\n`;
    out +=
      devices.devices.length === 0
        ? '  none seen yet\n'
        : table(DEVICE_HEADER, devices.devices.map(deviceRow));
    if (flapping > 0) {
      out += `\n  ${flapping} flapping: look at their close reasons — LP_HEARTBEAT_TIMEOUT means the network lost them\n`;
      out += `  (run "localpush doctor" on one; if they share an access point below, it is the Wi-Fi there).\n`;
    }
  }
  const aps = report.accessPoints;
  if (aps !== undefined) {
    out += `\nAccess points, worst first (${aps.accessPoints.length} of ${aps.total}; from devices that report their network):\n`;
    out +=
      aps.accessPoints.length === 0
        ? '  none (devices report their Wi-Fi only when their app turns on reportNetwork)\n'
        : table(
            ['BSSID', 'SSID', 'DEVICES', 'ONLINE', 'RECONNECTS', 'RTT P50 / P99', 'SIGNAL'],
            aps.accessPoints.map((a) => [
              a.bssid,
              a.ssid ?? '–',
              String(a.devices),
              String(a.online),
              String(a.reconnectsLastHour),
              rttText(a.rtt),
              a.signalDbm === null ? '–' : `${a.signalDbm} dBm`,
            ]),
          );
  }
  return out;
}
