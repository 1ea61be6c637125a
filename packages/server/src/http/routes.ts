/**
 * The routes of the HTTP API under /v1: sending, message status and history, device admin, and the
 * receipt feed. Schemas come from schemas.ts; errors are thrown as ApiError and shaped by api.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServerErrorCode, StoreError } from '../errors.js';
import { InvalidDeviceIdError } from '../engine/devices.js';
import type { DeliveryEngine, DeviceDirectory, SendOutcome, SendRequest } from '../engine/types.js';
import type { DeviceRecord, ReceiptEvent, StoredMessage } from '../store/types.js';
import type { DeliveryEngineImpl } from '../engine/engine.js';
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
  type AddDeviceBody,
  type BatchBody,
  type BatchMessage,
  type MessageListQuery,
  type PushBody,
} from './schemas.js';
import type { ReceiptStreams } from './sse.js';

/** What the API needs of the engine: the DeliveryEngine contract plus message history. */
export type HttpEngine = DeliveryEngine & Pick<DeliveryEngineImpl, 'listMessages'>;

export interface RouteDeps {
  engine: HttpEngine;
  directory: DeviceDirectory;
  streams: ReceiptStreams;
  maxPayloadBytes: number;
  pushBodyLimit: number;
  batchBodyLimit: number;
}

/** A send outcome as the API answers it. */
export interface SendResultView {
  device: string;
  id: string;
  status: SendOutcome['status'];
  duplicate: boolean;
  seq?: number;
  /** With status `conflict`: the coded reason, as a 409 would carry it. */
  error?: { code: typeof ApiErrorCode.MESSAGE_ID_CONFLICT; message: string };
}

function resultView(outcome: SendOutcome): SendResultView {
  const view: SendResultView = {
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

/** Registers the /v1 routes. */
// eslint-disable-next-line max-lines-per-function -- one of the eight long functions issue 12 names, not split yet
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { engine, directory } = deps;

  /** Checks what the schema cannot: payload size (it must fit a frame) and collapse id length in UTF-16. */
  const checkMessage = (message: Omit<BatchMessage, 'to'>, where: string): void => {
    const bytes = Buffer.byteLength(JSON.stringify(message.payload), 'utf8');
    if (bytes > deps.maxPayloadBytes) {
      throw new ApiError(
        413,
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        `${where}payload is ${bytes} bytes as JSON; at most ${deps.maxPayloadBytes} fit in a protocol frame`,
        [{ field: `body.${where}payload`, message: `at most ${deps.maxPayloadBytes} bytes as JSON` }],
      );
    }
    // JSON schema counts code points, the protocol counts UTF-16 units; enforce the protocol's limit.
    if (message.collapseId !== undefined && message.collapseId.length > 64) {
      throw badRequest(`body.${where}collapseId`, 'must be at most 64 UTF-16 code units');
    }
  };

  const toRequest = (deviceId: string, message: Omit<BatchMessage, 'to'>): SendRequest => {
    const request: SendRequest = {
      deviceId,
      kind: message.kind,
      payload: message.payload,
      priority: message.priority,
    };
    if (message.id !== undefined) request.id = message.id;
    if (message.expiration !== undefined) request.expiration = message.expiration;
    if (message.collapseId !== undefined) request.collapseId = message.collapseId;
    return request;
  };

  app.post<{ Body: PushBody }>(
    '/v1/push',
    {
      bodyLimit: deps.pushBodyLimit,
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

  app.post<{ Body: BatchBody }>(
    '/v1/push/batch',
    {
      bodyLimit: deps.batchBodyLimit,
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

  app.get<{ Params: { id: string } }>(
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

  app.get<{ Params: { id: string }; Querystring: MessageListQuery }>(
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

  app.post<{ Body: AddDeviceBody }>(
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

  app.get(
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

  app.get<{ Params: { id: string } }>(
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

  app.delete<{ Params: { id: string } }>(
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
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { device?: string; events?: string } }>(
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
      deps.streams.serve(reply, { device, events: events?.split(',') as ReceiptEvent[] | undefined });
    },
  );
}

function deviceNotFound(id: string): ApiError {
  return new ApiError(404, ApiErrorCode.DEVICE_NOT_FOUND, `no device with id "${id}"`);
}

/**
 * Bodies are validated without type coercion (a string is never a number), so query parameters — always
 * strings on the wire — are converted here, before validation, when they are plain decimal integers.
 */
function numericQuery(keys: readonly string[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    const query = request.query as Record<string, unknown>;
    for (const key of keys) {
      const value = query[key];
      if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value)) query[key] = Number(value);
    }
    done();
  };
}
