/**
 * JSON schemas of the health routes (docs/http-api.md "Connection health"): the edge validation of their
 * queries, the shape of their answers (serialised by Fastify from these, so nothing else leaks) and their
 * part of /openapi.json.
 */
import { BSSID_PATTERN, LIMITS } from '@localpush/protocol';

/** Most rows one page of a health list may hold. */
export const MAX_HEALTH_PAGE = 1000;

const pageProperties = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_HEALTH_PAGE, default: 50 },
  offset: { type: 'integer', minimum: 0, default: 0, description: 'Rows to skip (from `nextOffset`).' },
} as const;

export const healthPageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: pageProperties,
} as const;

export const deviceHealthQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageProperties,
    flapping: { type: 'boolean', description: 'Only devices that are (true) or are not (false) flapping.' },
  },
} as const;

const networkSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  description: 'The network the device reported with its latest hello [LP-10.4]; null when none.',
  properties: {
    ssid: { type: 'string', maxLength: LIMITS.ssidMaxLength },
    bssid: { type: 'string', pattern: BSSID_PATTERN.source },
    signalDbm: { type: 'integer' },
  },
} as const;

const rttSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  description: 'Round trips of the recent heartbeat acks, timed by the server; null before the first.',
  required: ['samples', 'p50Ms', 'p99Ms', 'lastMs'],
  properties: {
    samples: { type: 'integer' },
    p50Ms: { type: 'number' },
    p99Ms: { type: 'number' },
    lastMs: { type: 'number' },
  },
} as const;

const sessionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serial', 'openedAt', 'closedAt', 'reason', 'network'],
  properties: {
    serial: { type: 'integer' },
    openedAt: { type: 'integer' },
    closedAt: { type: ['integer', 'null'] },
    reason: { type: ['string', 'null'] },
    network: networkSchema,
  },
} as const;

export const deviceHealthSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'deviceId',
    'online',
    'trackedSince',
    'sessions',
    'reconnectsLastHour',
    'closeReasonsLastHour',
    'flapping',
    'offlineMsLastHour',
    'offlineMsTotal',
    'offlineSince',
    'rtt',
    'network',
    'recentSessions',
  ],
  properties: {
    deviceId: { type: 'string' },
    online: { type: 'boolean', description: 'Whether it has a session on this server now.' },
    trackedSince: {
      type: ['integer', 'null'],
      description: 'When this server first saw a session of it (ms since the epoch); null: never.',
    },
    sessions: { type: 'integer', description: 'Sessions seen since then.' },
    reconnectsLastHour: { type: 'integer' },
    closeReasonsLastHour: {
      type: 'object',
      additionalProperties: { type: 'integer' },
      description: 'How the sessions that ended in the last hour ended, by reason.',
    },
    flapping: { type: 'boolean', description: 'At least `flappingReconnects` reconnects in the last hour.' },
    offlineMsLastHour: { type: 'integer' },
    offlineMsTotal: { type: 'integer' },
    offlineSince: { type: ['integer', 'null'] },
    rtt: rttSchema,
    network: networkSchema,
    recentSessions: { type: 'array', items: sessionSchema, description: 'Newest first, at most 10.' },
  },
} as const;

const thresholds = {
  flappingReconnects: { type: 'integer', description: 'The flapping threshold (--flapping-reconnects).' },
  windowMs: { type: 'integer', description: 'The window of the "last hour" figures.' },
} as const;

export const deviceHealthListSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['devices', 'total', 'nextOffset', 'flappingReconnects', 'windowMs'],
  properties: {
    devices: { type: 'array', items: deviceHealthSchema },
    total: { type: 'integer', description: 'Devices matching, on every page.' },
    nextOffset: { type: ['integer', 'null'] },
    ...thresholds,
  },
} as const;

const accessPointSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['bssid', 'ssid', 'devices', 'online', 'reconnectsLastHour', 'rtt', 'signalDbm'],
  properties: {
    bssid: { type: 'string' },
    ssid: { type: ['string', 'null'] },
    devices: { type: 'integer', description: 'Devices with a session on it in the last hour.' },
    online: { type: 'integer' },
    reconnectsLastHour: { type: 'integer' },
    rtt: rttSchema,
    signalDbm: { type: ['integer', 'null'], description: "Median of its devices' latest signal." },
  },
} as const;

export const accessPointListSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accessPoints', 'total', 'nextOffset', 'windowMs'],
  properties: {
    accessPoints: { type: 'array', items: accessPointSchema },
    total: { type: 'integer' },
    nextOffset: { type: ['integer', 'null'] },
    windowMs: thresholds.windowMs,
  },
} as const;
