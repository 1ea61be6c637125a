/**
 * The routes of the HTTP API under /v1, as one Fastify plugin: sending, message status and history,
 * device admin, and the receipt feed. Request and reply types are derived from the JSON schemas in
 * schemas.ts (@fastify/type-provider-json-schema-to-ts), so the edge validation and the handlers' types
 * cannot drift apart. Errors are thrown as ApiError and shaped by api.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import { DEFAULT_MAX_FRAME_BYTES, systemClock, type Clock, type JsonValue } from '@localpush/protocol';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawServerDefault,
} from 'fastify';
import { ServerErrorCode, StoreError } from '../errors.js';
import { InvalidDeviceIdError } from '../engine/devices.js';
import type { DeliveryEngine, DeviceDirectory, SendOutcome, SendRequest } from '../engine/types.js';
import type { DeviceRecord, ReceiptEvent, StoredMessage } from '../store/types.js';
import type { DeliveryEngineImpl } from '../engine/engine.js';
import type { RoutesPlugin } from '../plugin.js';
import { ApiError, ApiErrorCode, badRequest } from './errors.js';
import {
  addDeviceBodySchema,
  addDeviceResultSchema,
  batchBodySchema,
  deviceListSchema,
  deviceParamsSchema,
  deviceResultSchema,
  errors,
  messageListQuerySchema,
  messageListSchema,
  messageParamsSchema,
  messageStatusSchema,
  pushBodySchema,
  sendResultsSchema,
  streamQuerySchema,
  type BatchMessage,
  type SendResult,
} from './schemas.js';
import { ReceiptStreams } from './sse.js';

/** What the API needs of the engine: the DeliveryEngine contract plus message history. */
export type HttpEngine = DeliveryEngine & Pick<DeliveryEngineImpl, 'listMessages'>;

/** The default largest payload: the default frame less 4 KiB for the push envelope. [LP-2.3] */
export const DEFAULT_MAX_PAYLOAD_BYTES = DEFAULT_MAX_FRAME_BYTES - 4 * 1024;

/** Options of {@link apiRoutes}. */
export interface ApiRoutesOptions {
  engine: HttpEngine;
  directory: DeviceDirectory;
  /** Clock for the receipt feed's heartbeats. Default: the system clock. */
  clock?: Clock;
  /** Largest push payload, as JSON bytes. Default 60 KiB, which leaves room for the envelope in a 64 KiB frame. */
  maxPayloadBytes?: number;
  /** Body limit of POST /v1/push. */
  pushBodyLimitBytes: number;
  /** Body limit of POST /v1/push/batch. Default 16 MiB. */
  batchBodyLimitBytes?: number;
  /** Interval of the receipt feed's heartbeat comments. Default 15 s. */
  sseHeartbeatMs?: number;
  /** A feed client with this many unread bytes is dropped. Default 4 MiB. */
  sseMaxBufferedBytes?: number;
}

/** The API's Fastify instance with the schema-derived types. */
type Api = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  JsonSchemaToTsProvider
>;

/** The /v1 routes, to `register` on the HTTP API's host (api.ts). */
export function apiRoutes(options: ApiRoutesOptions): RoutesPlugin {
  return (scope) => {
    const api = scope.withTypeProvider<JsonSchemaToTsProvider>();
    const streams = new ReceiptStreams({
      engine: options.engine,
      clock: options.clock ?? systemClock,
      heartbeatMs: options.sseHeartbeatMs ?? 15_000,
      maxBufferedBytes: options.sseMaxBufferedBytes ?? 4 * 1024 * 1024,
    });
    // Feeds never end by themselves: end them before the server waits for its requests to finish.
    scope.addHook('preClose', (done) => {
      streams.closeAll();
      done();
    });
    const checkMessage = messageChecker(options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    pushRoutes(api, options, checkMessage);
    messageRoutes(api, options);
    deviceRoutes(api, options.directory);
    receiptRoutes(api, streams);
  };
}

/** A message's fields as the push and batch bodies carry them. */
type MessageFields = Omit<BatchMessage, 'to'>;

/** Checks what the schema cannot: payload size (it must fit a frame) and collapse id length in UTF-16. */
function messageChecker(maxPayloadBytes: number) {
  return (message: MessageFields, where: string): void => {
    const bytes = Buffer.byteLength(JSON.stringify(message.payload), 'utf8');
    if (bytes > maxPayloadBytes) {
      throw new ApiError(
        413,
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        `${where}payload is ${bytes} bytes as JSON; at most ${maxPayloadBytes} fit in a protocol frame`,
        [{ field: `body.${where}payload`, message: `at most ${maxPayloadBytes} bytes as JSON` }],
      );
    }
    // JSON schema counts code points, the protocol counts UTF-16 units; enforce the protocol's limit.
    if (message.collapseId !== undefined && message.collapseId.length > 64) {
      throw badRequest(`body.${where}collapseId`, 'must be at most 64 UTF-16 code units');
    }
  };
}

function toRequest(deviceId: string, message: MessageFields): SendRequest {
  const request: SendRequest = {
    deviceId,
    kind: message.kind,
    // A parsed JSON body holds JSON values only; the schema leaves the payload's shape open.
    payload: message.payload as JsonValue,
    priority: message.priority,
  };
  if (message.id !== undefined) request.id = message.id;
  if (message.expiration !== undefined) request.expiration = message.expiration;
  if (message.collapseId !== undefined) request.collapseId = message.collapseId;
  return request;
}

/** POST /v1/push and POST /v1/push/batch. */
function pushRoutes(
  api: Api,
  options: ApiRoutesOptions,
  checkMessage: ReturnType<typeof messageChecker>,
): void {
  const { engine } = options;
  api.post(
    '/v1/push',
    {
      bodyLimit: options.pushBodyLimitBytes,
      schema: {
        summary: 'Send one message to one or more devices',
        tags: ['push'],
        body: pushBodySchema,
        response: { 200: sendResultsSchema, ...errors(400, 409, 413, 415, 503) },
      },
    },
    async (request) => {
      const body = request.body;
      const devices = typeof body.to === 'string' ? [body.to] : body.to;
      if (body.id !== undefined && devices.length !== 1) {
        throw badRequest('body.id', 'only allowed when "to" names one device (ids are unique per message)');
      }
      checkMessage(body, '');
      const outcomes = await Promise.all(
        devices.map((deviceId) => {
          const sendRequest = toRequest(deviceId, body);
          return body.wait
            ? engine.submitAndWait(sendRequest, body.waitTimeoutMs)
            : engine.submit(sendRequest);
        }),
      );
      // An id is only allowed with one recipient, so a conflict is the whole answer. [docs/http-api.md]
      const refused = outcomes.find((o) => o.status === 'conflict');
      if (refused !== undefined) throw conflictError(refused);
      return { results: outcomes.map(resultView) };
    },
  );

  api.post(
    '/v1/push/batch',
    {
      bodyLimit: options.batchBodyLimitBytes ?? 16 * 1024 * 1024,
      schema: {
        summary: 'Send many messages, each to one device, in one request',
        tags: ['push'],
        body: batchBodySchema,
        response: { 200: sendResultsSchema, ...errors(400, 413, 415, 503) },
      },
    },
    async (request) => {
      const messages = request.body.messages;
      messages.forEach((message, i) => checkMessage(message, `messages[${i}].`));
      // Submitted in order: messages to the same device get seqs in batch order.
      const outcomes = await Promise.all(messages.map((m) => engine.submit(toRequest(m.to, m))));
      return { results: outcomes.map(resultView) };
    },
  );
}

/** GET /v1/messages/:id and GET /v1/devices/:id/messages. */
function messageRoutes(api: Api, { engine, directory }: ApiRoutesOptions): void {
  api.get(
    '/v1/messages/:id',
    {
      schema: {
        summary: 'A message and its receipts',
        tags: ['messages'],
        params: messageParamsSchema,
        response: { 200: messageStatusSchema, ...errors(400, 404) },
      },
    },
    async (request) => {
      const status = await engine.status(request.params.id);
      if (status === undefined) {
        throw new ApiError(404, ApiErrorCode.MESSAGE_NOT_FOUND, `no message with id "${request.params.id}"`);
      }
      return {
        message: messageView(status.message),
        receipts: status.receipts.map((r) => ({ event: r.event, at: r.at, detail: r.detail })),
      };
    },
  );

  api.get(
    '/v1/devices/:id/messages',
    {
      preValidation: numericQuery(['limit', 'beforeSeq']),
      schema: {
        summary: "A device's messages, newest first, paged backwards by seq",
        tags: ['messages'],
        params: deviceParamsSchema,
        querystring: messageListQuerySchema,
        response: { 200: messageListSchema, ...errors(400, 404) },
      },
    },
    async (request) => {
      const id = request.params.id;
      if ((await directory.get(id)) === undefined) throw deviceNotFound(id);
      const { limit, beforeSeq } = request.query;
      const messages = await engine.listMessages(
        id,
        beforeSeq === undefined ? { limit } : { limit, beforeSeq },
      );
      const last = messages.at(-1);
      return {
        messages: messages.map(messageView),
        nextBeforeSeq: messages.length === limit && last !== undefined && last.seq > 1 ? last.seq : null,
      };
    },
  );
}

/** POST /v1/devices, GET /v1/devices, GET and DELETE /v1/devices/:id. */
function deviceRoutes(api: Api, directory: DeviceDirectory): void {
  api.post(
    '/v1/devices',
    {
      // No body at all means "all defaults", like {}.
      preValidation: (request, _reply, done) => {
        if (request.body === undefined) request.body = {};
        done();
      },
      schema: {
        summary: 'Register a device; answers its credential (shown once)',
        tags: ['devices'],
        body: addDeviceBodySchema,
        response: { 201: addDeviceResultSchema, ...errors(400, 409, 415) },
      },
    },
    async (request, reply) => {
      try {
        const { device, credential } = await directory.add(request.body);
        void reply.code(201);
        return { device: deviceView(device), credential };
      } catch (error) {
        if (error instanceof StoreError && error.code === ServerErrorCode.STORE_DEVICE_EXISTS) {
          throw new ApiError(409, ApiErrorCode.DEVICE_EXISTS, error.message);
        }
        if (error instanceof InvalidDeviceIdError) throw badRequest('body.id', error.message);
        throw error;
      }
    },
  );

  api.get(
    '/v1/devices',
    {
      schema: {
        summary: 'Every registered device, with whether it is online',
        tags: ['devices'],
        response: { 200: deviceListSchema, ...errors() },
      },
    },
    async () => {
      const devices = await directory.list();
      return { devices: devices.map((d) => deviceView(d, directory.isOnline(d.id))) };
    },
  );

  api.get(
    '/v1/devices/:id',
    {
      schema: {
        summary: 'One device',
        tags: ['devices'],
        params: deviceParamsSchema,
        response: { 200: deviceResultSchema, ...errors(400, 404) },
      },
    },
    async (request) => {
      const device = await directory.get(request.params.id);
      if (device === undefined) throw deviceNotFound(request.params.id);
      return { device: deviceView(device, directory.isOnline(device.id)) };
    },
  );

  api.delete(
    '/v1/devices/:id',
    {
      schema: {
        summary: 'Remove a device with its messages and receipts',
        tags: ['devices'],
        params: deviceParamsSchema,
        response: { 204: { type: 'null', description: 'Removed.' }, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      if (!(await directory.remove(request.params.id))) throw deviceNotFound(request.params.id);
      // No body at all (the schema's `null` documents that), not a serialised null.
      return (reply as FastifyReply).code(204).send();
    },
  );
}

/** GET /v1/receipts/stream. */
function receiptRoutes(api: Api, streams: ReceiptStreams): void {
  api.get(
    '/v1/receipts/stream',
    {
      schema: {
        summary: 'Live feed of receipts (Server-Sent Events: `event: receipt`, JSON `data`)',
        description:
          'Each event\'s data is `{"id","device","event","at","detail"}`. A comment line is sent every 15 s.',
        tags: ['receipts'],
        querystring: streamQuerySchema,
        response: {
          200: {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errors(400),
        },
      },
    },
    (request, reply) => {
      const { device, events } = request.query;
      // The schema's pattern admits only known event names, so the split is a list of ReceiptEvents.
      streams.serve(reply, { device, events: events?.split(',') as ReceiptEvent[] | undefined });
    },
  );
}

/** A send outcome as the API answers it. */
function resultView(outcome: SendOutcome): SendResult {
  const view: SendResult = {
    device: outcome.deviceId,
    id: outcome.id,
    status: outcome.status,
    duplicate: outcome.duplicate,
  };
  if (outcome.seq !== undefined) view.seq = outcome.seq;
  if (outcome.conflict !== undefined) {
    view.error = { code: ApiErrorCode.MESSAGE_ID_CONFLICT, message: outcome.conflict.message };
  }
  return view;
}

/** A 409 for a push whose id was refused: nothing was stored, and the answer must not look like success. */
function conflictError(outcome: SendOutcome): ApiError {
  const message = outcome.conflict?.message ?? `message id "${outcome.id}" is already used`;
  return new ApiError(409, ApiErrorCode.MESSAGE_ID_CONFLICT, message, [{ field: 'body.id', message }]);
}

function messageView(message: StoredMessage) {
  return {
    id: message.id,
    device: message.deviceId,
    seq: message.seq,
    kind: message.kind,
    state: message.state,
    priority: message.priority,
    expiration: message.expiration,
    collapseId: message.collapseId,
    acceptedAt: message.acceptedAt,
    sentAt: message.sentAt,
    settledAt: message.settledAt,
  };
}

function deviceView(device: DeviceRecord, online?: boolean) {
  const view: { id: string; label: string | null; createdAt: number; online?: boolean } = {
    id: device.id,
    label: device.label,
    createdAt: device.createdAt,
  };
  if (online !== undefined) view.online = online;
  return view;
}

function deviceNotFound(id: string): ApiError {
  return new ApiError(404, ApiErrorCode.DEVICE_NOT_FOUND, `no device with id "${id}"`);
}

/**
 * Bodies are validated without type coercion (a string is never a number), so query parameters — always
 * strings on the wire — are converted here, before validation, when they are plain decimal integers.
 */
export function numericQuery(keys: readonly string[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    const query = request.query as Record<string, unknown>;
    for (const key of keys) {
      const value = query[key];
      if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value)) query[key] = Number(value);
    }
    done();
  };
}
