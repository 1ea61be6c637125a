/**
 * The chat routes: how a localpush device (native or browser) sends texts and call steps to anyone in
 * the world, SimplePush users included. The localpush protocol only carries pushes down to devices, so
 * the way up is HTTP, authenticated with the device's own credential (not the provider key):
 *
 *   GET  /v1/chat/directory   who is reachable now
 *   POST /v1/chat/send        { to, text } or { to, call: { callId, action } }, optional waitMs
 *
 * `Authorization: Basic base64(<device id>:<credential>)`. See docs/simplepush.md ("One world").
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyContextConfig, FastifyRequest } from 'fastify';
import type { FromSchema } from 'json-schema-to-ts';
import type { DeliveryEngine, RoutesPlugin, SendRequest } from '../core.js';
import type { Store } from '../core.js';
import { verifyCredential } from '../core.js';
import { ApiError, ApiErrorCode } from '../core.js';
import type { Clock } from '@localpush/protocol';
import {
  CHAT_CALL_ACTIONS,
  type ChatCallPayload,
  type ChatTextPayload,
  type SimplePushBridge,
} from './bridge.js';

/** What {@link chatRoutes} needs. */
export interface ChatRouteDeps {
  bridge: Pick<SimplePushBridge, 'directory'>;
  engine: Pick<DeliveryEngine, 'submit' | 'submitAndWait'>;
  store: Store;
  clock: Clock;
}

const sendBodySchema = {
  type: 'object',
  required: ['to'],
  additionalProperties: false,
  properties: {
    to: { type: 'string', minLength: 1, maxLength: 128 },
    text: { type: 'string', minLength: 1, maxLength: 4000 },
    call: {
      type: 'object',
      required: ['callId', 'action'],
      additionalProperties: false,
      properties: {
        callId: { type: 'string', minLength: 1, maxLength: 64 },
        action: { type: 'string', enum: [...CHAT_CALL_ACTIONS] },
      },
    },
    waitMs: { type: 'integer', minimum: 0, maximum: 30_000 },
  },
} as const;

/** The body of POST /v1/chat/send. `waitMs`: wait up to this long for the receiver's ack, to answer `delivered` (default 0: answer at once). */
export type ChatSendBody = FromSchema<typeof sendBodySchema>;

/** Skips the API's provider-key check (api.ts); these routes check the device credential instead. */
const PUBLIC = { public: true } as FastifyContextConfig;

/** How long a call step may wait in a queue: a ring that is a minute late is no use. */
const CALL_TTL_SECONDS = 60;

/** The chat routes, to register on the HTTP API (before it listens). They skip the provider-key check. */
export function chatRoutes(deps: ChatRouteDeps): RoutesPlugin {
  return (scope) => {
    const app = scope.withTypeProvider<JsonSchemaToTsProvider>();
    const authenticate = deviceAuthenticator(deps);
    app.get('/v1/chat/directory', { config: PUBLIC, schema: { hide: true } }, async (request) => {
      await authenticate(request);
      return { users: deps.bridge.directory() };
    });
    app.post(
      '/v1/chat/send',
      { config: PUBLIC, schema: { hide: true, body: sendBodySchema } },
      async (request) => send(deps, await authenticate(request), request.body),
    );
  };
}

/** Who sends: the device whose credential the request carries, or a 401. */
function deviceAuthenticator(deps: ChatRouteDeps) {
  return async (request: FastifyRequest): Promise<{ id: string; name: string }> => {
    const match = /^Basic[ \t]+(\S+)$/i.exec(request.headers.authorization ?? '');
    const decoded = Buffer.from(match?.[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const id = decoded.slice(0, Math.max(colon, 0));
    const credential = decoded.slice(colon + 1);
    if (colon > 0 && (await verifyCredential(deps.store, id, credential))) {
      const device = await deps.store.getDevice(id);
      return { id, name: device?.label ?? id };
    }
    throw new ApiError(
      401,
      ApiErrorCode.UNAUTHORIZED,
      'send the device credential as "Authorization: Basic base64(<device id>:<credential>)"',
    );
  };
}

/** POST /v1/chat/send: a text or a call step from `me` to `body.to`. */
async function send(
  deps: ChatRouteDeps,
  me: { id: string; name: string },
  body: ChatSendBody,
): Promise<{ id: string; status: string }> {
  if ((body.text === undefined) === (body.call === undefined)) {
    throw new ApiError(400, ApiErrorCode.BAD_REQUEST, 'send exactly one of "text" and "call"');
  }
  let request: SendRequest;
  if (body.call !== undefined) {
    const payload: ChatCallPayload = { from: me.id, fromName: me.name, ...body.call };
    const expiration = Math.floor(deps.clock.now() / 1000) + CALL_TTL_SECONDS;
    request = { deviceId: body.to, kind: 'call', payload: { ...payload }, priority: 10, expiration };
  } else {
    const payload: ChatTextPayload = { from: me.id, fromName: me.name, text: body.text ?? '' };
    request = { deviceId: body.to, kind: 'message', payload: { ...payload }, priority: 10 };
  }
  const outcome =
    body.waitMs !== undefined && body.waitMs > 0
      ? await deps.engine.submitAndWait(request, body.waitMs)
      : await deps.engine.submit(request);
  if (outcome.status === 'unknown_device') {
    throw new ApiError(404, ApiErrorCode.DEVICE_NOT_FOUND, `no device "${body.to}"`);
  }
  return { id: outcome.id, status: outcome.status };
}
