/**
 * JSON schemas of the HTTP API: the edge validation (Fastify/Ajv, without type coercion of bodies) and
 * the source of /openapi.json. The TypeScript types of what they accept are derived from them
 * (json-schema-to-ts, as the routes' type provider does), never written twice.
 */
import {
  DEVICE_ID_PATTERN,
  LIMITS,
  MESSAGE_ID_PATTERN,
  PUSH_KINDS,
  PUSH_PRIORITIES,
} from '@localpush/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { SEND_STATUSES } from '../engine/types.js';
import { MESSAGE_STATES, RECEIPT_EVENTS } from '../store/types.js';
import { errorBodySchema } from './errors.js';

/** Most devices one push may name, and most messages one batch may carry. */
export const MAX_RECIPIENTS = 1000;
export const MAX_BATCH = 1000;
/** Longest device label. */
export const MAX_LABEL_LENGTH = 200;
/** Largest expiration accepted (UNIX seconds, year 2106). */
export const MAX_EXPIRATION = 0xffff_ffff;

const deviceId = {
  type: 'string',
  pattern: DEVICE_ID_PATTERN.source,
  description: 'Device id: 1–128 letters, digits, `.`, `_`, `-`, `:` or `@`.',
} as const;

const messageId = {
  type: 'string',
  pattern: MESSAGE_ID_PATTERN.source,
  description: 'Message id (idempotency key): 1–128 printable ASCII characters without spaces.',
} as const;

const messageFields = {
  id: messageId,
  kind: { type: 'string', enum: PUSH_KINDS, description: 'How the device presents the message.' },
  payload: { description: 'Any JSON value, opaque to the server; at most 60 KiB as JSON.' },
  priority: {
    type: 'integer',
    enum: PUSH_PRIORITIES,
    default: 10,
    description: '10 now, 5 power-aware, 1 power first.',
  },
  expiration: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_EXPIRATION,
    description:
      'UNIX seconds after which the message is dropped; 0 = now or never; absent = the default TTL.',
  },
  collapseId: {
    type: 'string',
    minLength: 1,
    maxLength: LIMITS.collapseIdMaxLength,
    description: 'A newer undelivered message with the same collapse id replaces the older one.',
  },
} as const;

export const pushBodySchema = {
  type: 'object',
  required: ['to', 'kind', 'payload'],
  additionalProperties: false,
  properties: {
    to: {
      description: 'One device id, or 1–1000 distinct device ids.',
      anyOf: [
        deviceId,
        { type: 'array', items: deviceId, minItems: 1, maxItems: MAX_RECIPIENTS, uniqueItems: true },
      ],
    },
    ...messageFields,
    id: { ...messageId, description: `${messageId.description} Only when \`to\` names one device.` },
    wait: {
      type: 'boolean',
      default: false,
      description: "Wait for each device's ack (up to waitTimeoutMs).",
    },
    waitTimeoutMs: { type: 'integer', minimum: 1, maximum: 60_000, default: 5000 },
  },
} as const;

export const batchBodySchema = {
  type: 'object',
  required: ['messages'],
  additionalProperties: false,
  properties: {
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH,
      items: {
        type: 'object',
        required: ['to', 'kind', 'payload'],
        additionalProperties: false,
        properties: { to: deviceId, ...messageFields },
      },
    },
  },
} as const;

const sendResult = {
  type: 'object',
  required: ['device', 'id', 'status', 'duplicate'],
  properties: {
    device: { type: 'string' },
    id: { type: 'string' },
    status: { type: 'string', enum: SEND_STATUSES },
    duplicate: {
      type: 'boolean',
      description: 'True when this id was submitted before for this device with the same content.',
    },
    seq: {
      type: 'integer',
      description: 'Per-device sequence number (absent for unknown_device and conflict).',
    },
    error: {
      type: 'object',
      description:
        'With status `conflict`: the id already names a message for another device or with other content; nothing was stored.',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: ['LP_API_MESSAGE_ID_CONFLICT'] },
        message: { type: 'string' },
      },
    },
  },
} as const;

export const sendResultsSchema = {
  type: 'object',
  required: ['results'],
  properties: { results: { type: 'array', items: sendResult } },
} as const;

const nullableInteger = { type: ['integer', 'null'] } as const;

export const messageViewSchema = {
  type: 'object',
  required: ['id', 'device', 'seq', 'kind', 'state', 'priority', 'expiration', 'collapseId', 'acceptedAt'],
  properties: {
    id: { type: 'string' },
    device: { type: 'string' },
    seq: { type: 'integer' },
    kind: { type: 'string', enum: PUSH_KINDS },
    state: { type: 'string', enum: MESSAGE_STATES },
    priority: { type: 'integer', enum: PUSH_PRIORITIES },
    expiration: { type: 'integer' },
    collapseId: { type: ['string', 'null'] },
    acceptedAt: { type: 'integer', description: 'Milliseconds since the UNIX epoch.' },
    sentAt: { ...nullableInteger, description: 'First write to the device (ms), or null.' },
    settledAt: { ...nullableInteger, description: 'When it reached a terminal state (ms), or null.' },
  },
} as const;

export const messageStatusSchema = {
  type: 'object',
  required: ['message', 'receipts'],
  properties: {
    message: messageViewSchema,
    receipts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['event', 'at', 'detail'],
        properties: {
          event: { type: 'string', enum: RECEIPT_EVENTS },
          at: { type: 'integer' },
          detail: { type: ['string', 'null'] },
        },
      },
    },
  },
} as const;

export const messageListSchema = {
  type: 'object',
  required: ['messages', 'nextBeforeSeq'],
  properties: {
    messages: { type: 'array', items: messageViewSchema },
    nextBeforeSeq: {
      ...nullableInteger,
      description: 'Pass as beforeSeq for the next (older) page; null at the end.',
    },
  },
} as const;

export const messageListQuerySchema = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    beforeSeq: { type: 'integer', minimum: 1, description: 'Only messages with a smaller seq.' },
  },
} as const;

const deviceView = {
  type: 'object',
  required: ['id', 'label', 'createdAt'],
  properties: {
    id: { type: 'string' },
    label: { type: ['string', 'null'] },
    createdAt: { type: 'integer', description: 'Milliseconds since the UNIX epoch.' },
    online: { type: 'boolean', description: 'Whether the device has a live session now.' },
  },
} as const;

export const addDeviceBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { ...deviceId, description: `${deviceId.description} Generated (\`dev-…\`) when absent.` },
    label: { type: 'string', maxLength: MAX_LABEL_LENGTH, description: 'Free text for people.' },
  },
} as const;

export const addDeviceResultSchema = {
  type: 'object',
  required: ['device', 'credential'],
  properties: {
    device: deviceView,
    credential: { type: 'string', description: 'The device credential. Shown once; only its hash is kept.' },
  },
} as const;

export const deviceResultSchema = {
  type: 'object',
  required: ['device'],
  properties: { device: deviceView },
} as const;

export const deviceListSchema = {
  type: 'object',
  required: ['devices'],
  properties: { devices: { type: 'array', items: deviceView } },
} as const;

export const deviceParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: deviceId },
} as const;

export const messageParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: LIMITS.messageIdMaxLength } },
} as const;

const receiptEventName = `(?:${RECEIPT_EVENTS.join('|')})`;

export const streamQuerySchema = {
  type: 'object',
  properties: {
    device: { ...deviceId, description: "Only this device's receipts." },
    events: {
      type: 'string',
      pattern: `^${receiptEventName}(?:,${receiptEventName})*$`,
      description: `Only receipts of these events, comma-separated: ${RECEIPT_EVENTS.join(', ')}.`,
    },
  },
} as const;

/** One result of POST /v1/push and POST /v1/push/batch. */
export type SendResult = FromSchema<typeof sendResult>;
/** Body of POST /v1/push, as validated (defaults applied). */
export type PushBody = FromSchema<typeof pushBodySchema>;
/** Body of POST /v1/push/batch. */
export type BatchBody = FromSchema<typeof batchBodySchema>;
/** One message of POST /v1/push/batch. */
export type BatchMessage = BatchBody['messages'][number];
/** Query of GET /v1/devices/:id/messages. */
export type MessageListQuery = FromSchema<typeof messageListQuerySchema>;
/** Body of POST /v1/devices. */
export type AddDeviceBody = FromSchema<typeof addDeviceBodySchema>;

/** Error answers a route can give, for its response schema (documentation and serialisation). */
export function errors(...statuses: number[]): Record<number, typeof errorBodySchema> {
  const out: Record<number, typeof errorBodySchema> = {};
  for (const status of [401, ...statuses]) out[status] = errorBodySchema;
  return out;
}
