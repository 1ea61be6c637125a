/**
 * The server's view of each device's connection, as a feature: a {@link DeviceHealthTracker} fed by the
 * gateway's session observer (through the plugin hooks), and the routes that read it —
 * `GET /v1/devices/:id/health`, `GET /v1/health/devices` (worst first) and `GET /v1/health/access-points`
 * (grouped by the BSSID devices reported, LP-10.4). docs/http-api.md "Connection health".
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import {
  ApiError,
  ApiErrorCode,
  deviceParamsSchema,
  errorResponses,
  numericQuery,
  type CloseReason,
  type DeviceDirectory,
  type RoutesPlugin,
  type ServerPlugin,
  type SessionObserver,
} from '../core.js';
import {
  accessPointListSchema,
  deviceHealthListSchema,
  deviceHealthQuerySchema,
  deviceHealthSchema,
  healthPageQuerySchema,
} from './schemas.js';
import { DeviceHealthTracker, HEALTH_WINDOW_MS } from './tracker.js';

/** How a session ended, as one short label: an LP_ code, `peer_closed`, `goaway:shutdown`, … */
export function closeReasonLabel(reason: CloseReason): string {
  switch (reason.kind) {
    case 'protocol_error':
      return reason.code;
    case 'peer_error':
      return `peer_error:${reason.code}`;
    case 'goaway':
      return `goaway:${reason.reason}`;
    case 'peer_closed':
    case 'destroyed':
      return reason.kind;
  }
}

/** The gateway's session events, told to the tracker. */
export function healthObserver(tracker: DeviceHealthTracker): SessionObserver {
  return {
    opened: (connection, hello) => tracker.opened(connection.deviceId, hello.network),
    closed: (connection, reason) => tracker.closed(connection.deviceId, closeReasonLabel(reason)),
    heartbeatRtt: (connection, rttMs) => tracker.heartbeatRtt(connection.deviceId, rttMs),
  };
}

function page<T>(
  rows: readonly T[],
  offset: number,
  limit: number,
): { rows: T[]; nextOffset: number | null } {
  const next = offset + limit;
  return { rows: rows.slice(offset, next), nextOffset: next < rows.length ? next : null };
}

/** The three health routes on the API (provider key required, like every /v1 route). */
export function healthRoutes(tracker: DeviceHealthTracker, directory: DeviceDirectory): RoutesPlugin {
  return (app) => {
    const api = app.withTypeProvider<JsonSchemaToTsProvider>();
    api.get(
      '/v1/devices/:id/health',
      {
        schema: {
          summary: "What the server sees of a device's connection",
          tags: ['health'],
          params: deviceParamsSchema,
          response: { 200: deviceHealthSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => {
        const { id } = request.params;
        if ((await directory.get(id)) === undefined) {
          tracker.forget(id);
          throw new ApiError(404, ApiErrorCode.DEVICE_NOT_FOUND, `no device with id "${id}"`);
        }
        return tracker.report(id);
      },
    );
    api.get(
      '/v1/health/devices',
      {
        preValidation: [numericQuery(['limit', 'offset']), booleanQuery('flapping')],
        schema: {
          summary: 'Devices by connection health, worst first (flapping, reconnects, offline time, RTT p99)',
          tags: ['health'],
          querystring: deviceHealthQuerySchema,
          response: { 200: deviceHealthListSchema, ...errorResponses(400) },
        },
      },
      (request) => {
        const { limit, offset, flapping } = request.query;
        const all = tracker.worstDevices().filter((d) => flapping === undefined || d.flapping === flapping);
        const { rows, nextOffset } = page(all, offset, limit);
        return Promise.resolve({
          devices: rows,
          total: all.length,
          nextOffset,
          flappingReconnects: tracker.flappingReconnects,
          windowMs: HEALTH_WINDOW_MS,
        });
      },
    );
    api.get(
      '/v1/health/access-points',
      {
        preValidation: numericQuery(['limit', 'offset']),
        schema: {
          summary: 'Access points (by the BSSID devices reported, LP-10.4), worst first',
          tags: ['health'],
          querystring: healthPageQuerySchema,
          response: { 200: accessPointListSchema, ...errorResponses(400) },
        },
      },
      (request) => {
        const { limit, offset } = request.query;
        const all = tracker.accessPoints();
        const { rows, nextOffset } = page(all, offset, limit);
        return Promise.resolve({
          accessPoints: rows,
          total: all.length,
          nextOffset,
          windowMs: HEALTH_WINDOW_MS,
        });
      },
    );
  };
}

/** `flapping=true|false` as a boolean before validation (queries are strings; bodies are never coerced). */
function booleanQuery(key: string) {
  return (request: { query: unknown }, _reply: unknown, done: () => void): void => {
    const query = request.query as Record<string, unknown>;
    if (query[key] === 'true') query[key] = true;
    else if (query[key] === 'false') query[key] = false;
    done();
  };
}

/** The health view: on in every server; the flapping threshold is `--flapping-reconnects`. */
export const healthPlugin: ServerPlugin<DeviceHealthTracker> = {
  name: 'health',
  setup({ config, clock, directory, presence }) {
    const tracker = new DeviceHealthTracker({
      now: () => clock.now(),
      flappingReconnects: config.flappingReconnects,
    });
    // A removed device's session is evicted by the directory, not closed through the gateway [LP-4.4].
    const unsubscribe = presence.subscribe({
      sessionOpened: () => {},
      sessionClosed: (session, reason) => {
        if (reason === 'removed') tracker.forget(session.deviceId);
      },
    });
    return {
      hooks: { sessions: healthObserver(tracker) },
      routes: healthRoutes(tracker, directory),
      value: tracker,
      close: () => {
        unsubscribe();
        return Promise.resolve();
      },
    };
  },
};
