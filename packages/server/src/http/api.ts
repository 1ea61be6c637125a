/**
 * The HTTP API for application servers (Fastify): send pushes, follow their receipts, manage devices.
 * Everything but GET /healthz needs `Authorization: Bearer <provider key>`. Every error answer is
 * `{ error: { code: 'LP_API_…', message, details? } }` — see errors.ts and docs/http-api.md.
 */
import { randomUUID } from 'node:crypto';
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import { LocalpushError, ServerErrorCode, StoreError } from '../errors.js';
import { EngineClosedError } from '../engine/engine.js';
import { ProviderKeys } from './auth.js';
import { MAX_PARAM_BYTES, clientError, frameworkError, installBodyParsers } from './edge.js';
import { ApiError, ApiErrorCode, errorBody, type ApiErrorDetail } from './errors.js';
import { fastifyPlugin, type RoutesPlugin, type ServerPlugin } from '../plugin.js';
import { apiRoutes, type ApiRoutesOptions } from './routes.js';

export { DEFAULT_MAX_PAYLOAD_BYTES, type HttpEngine } from './routes.js';

/** Options of {@link createHttpHost}: the API's shell, shared by every plugin's routes. */
export interface HttpHostOptions {
  /** Accepted provider keys (at least one). */
  providerKeys: readonly string[];
  /** Logger for errors (pino works); none = silent. */
  logger?: FastifyBaseLogger;
  /** Body limit of every route that sets none of its own. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Log one access line per request (`--access-log`). Default false. */
  logRequests?: boolean;
}

/** Options of {@link buildHttpApi}. */
export interface HttpApiOptions extends HttpHostOptions, Omit<ApiRoutesOptions, 'pushBodyLimitBytes'> {}

/** The version shown in the OpenAPI document. */
const API_VERSION = '1.0.0';

/** The default body limit of the API's routes, POST /v1/push's included. */
const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The HTTP API's host, without routes but /healthz and /openapi.json (not listening: call `listen`, or
 * `inject` in tests): the provider-key check, the error answers, the body parsers and @fastify/swagger.
 * Features add their routes as Fastify plugins (`register`), so /openapi.json describes all of them once
 * the instance is ready.
 */
export function createHttpHost(options: HttpHostOptions): FastifyInstance {
  if (options.providerKeys.length === 0 || options.providerKeys.some((k) => k.length === 0)) {
    throw new LocalpushError(
      ServerErrorCode.CONFIG_INVALID,
      'the HTTP API needs at least one non-empty provider key',
    );
  }
  const app = Fastify({
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    // Fastify's own request logging writes two lines per request; the access log is one (below).
    logController: new LogController({ disableRequestLogging: true }),
    // Every log line of a request carries its id (reqId): the caller's X-Request-Id when it gives a
    // usable one, so that its logs and ours join up; else a fresh one.
    genReqId: requestId,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // Every id that can be created can be addressed, percent-encoded or not.
    routerOptions: { maxParamLength: MAX_PARAM_BYTES },
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
    ajv: {
      // Bodies are not coerced ("10" is not a priority) and unknown fields are refused, not dropped.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false },
    },
  });
  installBodyParsers(app);
  installRequestIds(app, options.logRequests === true);
  installProviderKeyCheck(app, new ProviderKeys(options.providerKeys));
  installErrorAnswers(app);
  void app.register(swagger, { openapi: OPENAPI_INFO });
  void app.register(fastifyPlugin(metaRoutes(app)));
  return app;
}

/** The HTTP API for application servers: the host with the /v1 routes. */
export function buildHttpApi(options: HttpApiOptions): FastifyInstance {
  const app = createHttpHost(options);
  const routes = apiRoutes({
    ...options,
    pushBodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
  });
  void app.register(fastifyPlugin(routes));
  return app;
}

/** The /v1 routes of the server's HTTP API, as a plugin. */
export const httpApiPlugin: ServerPlugin = {
  name: 'HTTP API',
  setup: ({ engine, directory, clock }) => ({
    routes: apiRoutes({ engine, directory, clock, pushBodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES }),
  }),
};

/** What an incoming X-Request-Id may be to be used as is: short, and nothing that could forge a log line. */
const USABLE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The request's id: the caller's X-Request-Id when usable, else a random UUID. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && USABLE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Answers carry X-Request-Id; with `accessLog`, one line per request once it is answered. */
function installRequestIds(app: FastifyInstance, accessLog: boolean): void {
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  if (!accessLog) return;
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        remote: request.ip,
      },
      'request',
    );
  });
}

/** Every route needs the provider key, but those whose config says `public: true`. */
function installProviderKeyCheck(app: FastifyInstance, keys: ProviderKeys): void {
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config as { public?: boolean } | undefined)?.public === true) return;
    if (keys.verifyHeader(request.headers.authorization)) return;
    void reply.header('www-authenticate', 'Bearer realm="localpush"');
    throw new ApiError(
      401,
      ApiErrorCode.UNAUTHORIZED,
      'send the provider key as "Authorization: Bearer <key>" (it is in provider.key in the data directory)',
    );
  });
}

/** Every error, and every unknown route, is answered `{ error: { code, message, details? } }`. */
function installErrorAnswers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = mapError(error);
    if (status >= 500) request.log.error({ err: error }, 'HTTP API request failed');
    // A 503 is temporary: say when to try again (the store reconnects on its own).
    if (status === 503) void reply.header('retry-after', '1');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(
        errorBody(ApiErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
      );
  });
}

const OPENAPI_INFO: FastifyDynamicSwaggerOptions['openapi'] = {
  openapi: '3.1.0',
  info: {
    title: 'localpush HTTP API',
    version: API_VERSION,
    description:
      'Send pushes to devices connected to this localpush server, follow their receipts and manage devices. ' +
      'Errors are `{error:{code,message,details?}}` with stable `LP_API_*` codes.',
  },
  components: { securitySchemes: { providerKey: { type: 'http', scheme: 'bearer' } } },
  security: [{ providerKey: [] }],
};

/** GET /healthz (no authentication) and GET /openapi.json. */
function metaRoutes(app: FastifyInstance): RoutesPlugin {
  return (scope) => {
    scope.get(
      '/healthz',
      {
        config: { public: true },
        schema: {
          summary: 'Liveness (no authentication)',
          tags: ['meta'],
          security: [],
          response: {
            200: {
              type: 'object',
              required: ['status'],
              properties: { status: { type: 'string', enum: ['ok'] } },
            },
          },
        },
      },
      (_request, reply) => reply.send({ status: 'ok' }),
    );
    scope.get('/openapi.json', { schema: { hide: true } }, (_request, reply) => reply.send(app.swagger()));
  };
}

/** Maps any error a request can end in to its status and error body. */
function mapError(error: FastifyError): { status: number; body: ReturnType<typeof errorBody> } {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.toBody() };
  if (error instanceof EngineClosedError) {
    return {
      status: 503,
      body: errorBody(ApiErrorCode.SHUTTING_DOWN, 'the server is shutting down; retry shortly'),
    };
  }
  // A device removed between a route's check and the store's write (a DELETE racing the request).
  if (error instanceof StoreError && error.code === ServerErrorCode.STORE_DEVICE_NOT_FOUND) {
    return { status: 404, body: errorBody(ApiErrorCode.DEVICE_NOT_FOUND, error.message) };
  }
  if (error instanceof StoreError && error.code === ServerErrorCode.STORE_UNAVAILABLE) {
    return {
      status: 503,
      body: errorBody(
        ApiErrorCode.STORE_UNAVAILABLE,
        `the store cannot be reached, so nothing was accepted; retry with the same message id (${error.message})`,
      ),
    };
  }
  if (error.validation !== undefined) {
    const context = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'body');
    const details = validationDetails(
      error.validation.map((v) => ({
        field: fieldName(context, v.instancePath, v.params),
        keyword: v.keyword,
        // Ajv's "must be equal to one of the allowed values" without saying which: name them.
        message: Array.isArray(v.params.allowedValues)
          ? `must be one of ${v.params.allowedValues.map((a) => JSON.stringify(a)).join(', ')}`
          : (v.message ?? 'is invalid'),
        type: typeof v.params.type === 'string' ? v.params.type : undefined,
      })),
    );
    const first = details[0];
    const message = first === undefined ? 'the request is invalid' : `${first.field}: ${first.message}`;
    return { status: 400, body: errorBody(ApiErrorCode.BAD_REQUEST, message, details) };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 400,
        body: errorBody(ApiErrorCode.BAD_JSON, `the body is not valid JSON: ${error.message}`),
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody(ApiErrorCode.BODY_TOO_LARGE, 'the request body is too large') };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: errorBody(ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, 'send the body as application/json'),
      };
    default:
      break;
  }
  const status = error.statusCode ?? 500;
  if (status === 404) return { status, body: errorBody(ApiErrorCode.NOT_FOUND, error.message) };
  if (status === 413) return { status, body: errorBody(ApiErrorCode.BODY_TOO_LARGE, error.message) };
  if (status === 415) return { status, body: errorBody(ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, error.message) };
  if (status >= 400 && status < 500)
    return { status, body: errorBody(ApiErrorCode.BAD_REQUEST, error.message) };
  return {
    status: 500,
    body: errorBody(
      ApiErrorCode.INTERNAL,
      'the server failed; it is logged — retrying with the same id is safe',
    ),
  };
}

/** `body` + `/to/2` + missing `payload` → `body.to[2].payload`. */
function fieldName(context: string, instancePath: string, params: Record<string, unknown>): string {
  let field = context;
  for (const part of instancePath.split('/').slice(1)) {
    const segment = part.replace(/~1/g, '/').replace(/~0/g, '~');
    field += /^[0-9]+$/.test(segment) ? `[${segment}]` : `.${segment}`;
  }
  const extra = params.missingProperty ?? params.additionalProperty;
  if (typeof extra === 'string') field += `.${extra}`;
  return field;
}

interface RawDetail {
  field: string;
  keyword: string;
  message: string;
  type: string | undefined;
}

/**
 * Ajv reports a failed anyOf as one error per branch plus "must match a schema in anyOf". Per field,
 * keep what says most: the errors other than branch type mismatches, or else "must be string or array".
 */
function validationDetails(raw: RawDetail[]): ApiErrorDetail[] {
  const anyOfFields = new Set(raw.filter((d) => d.keyword === 'anyOf').map((d) => d.field));
  const details: ApiErrorDetail[] = [];
  for (const field of new Set(raw.map((d) => d.field))) {
    const own = raw.filter((d) => d.field === field);
    if (!anyOfFields.has(field)) {
      details.push(...own.map((d) => ({ field, message: d.message })));
      continue;
    }
    const specific = own.filter((d) => d.keyword !== 'anyOf' && d.keyword !== 'type');
    if (specific.length > 0) details.push(...specific.map((d) => ({ field, message: d.message })));
    else {
      const types = own.flatMap((d) => (d.type === undefined ? [] : [d.type]));
      details.push({ field, message: types.length > 0 ? `must be ${types.join(' or ')}` : 'is invalid' });
    }
  }
  return details;
}
