/**
 * What happens to a request before any route of the API runs — Node's HTTP parser, Fastify's router and
 * the body parser — made to answer in the API's own error shape with its own codes, never Fastify's or
 * Node's, and to refuse the bodies that used to slip through: invalid UTF-8 (silently turned into U+FFFD),
 * JSON nested deeply enough to overflow a recursive walk (answered 500), and bodies that are not JSON at
 * all (text/plain was parsed as a string and then failed validation with 400 instead of 415).
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LIMITS } from '@localpush/protocol';
import { ApiError, ApiErrorCode, errorBody } from './errors.js';

/**
 * The deepest nesting of arrays and objects a request body may have, counting the body itself: the
 * envelope takes up to three levels (body, messages, message), the payload the rest. Deeper bodies are
 * refused with LP_API_NESTING_TOO_DEEP before they are parsed.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The longest path parameter accepted, in bytes as they arrive (percent-encoded): the longest id there is
 * (an APNs token, 400 hex digits; device and message ids are at most 128 characters) with room for every
 * character percent-encoded (3 bytes each). Fastify's default of 100 made ids of 101–128 characters,
 * which can be created, impossible to address.
 */
export const MAX_PARAM_BYTES = 3 * Math.max(400, LIMITS.deviceIdMaxLength, LIMITS.messageIdMaxLength);

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The nesting depth of a JSON text, read from its bytes without parsing: brackets and braces outside
 * strings. UTF-8 never puts these ASCII bytes inside a multi-byte character, so bytes are enough.
 * Stops counting once `limit` is passed.
 */
export function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Parses an `application/json` body: UTF-8 only (RFC 8259), checked before decoding; nesting at most
 * {@link MAX_JSON_DEPTH}; then JSON.parse. Members named `__proto__` or `constructor` are ordinary data
 * (JSON.parse makes them own properties, which changes no prototype): the schemas refuse them where
 * only known fields are allowed, and in a payload they reach the device as the sender wrote them.
 */
export function parseJsonBody(request: FastifyRequest, body: Buffer): unknown {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new ApiError(
      415,
      ApiErrorCode.UNSUPPORTED_MEDIA_TYPE,
      `send the body as application/json in UTF-8, not ${charset}`,
    );
  }
  if (body.length === 0) {
    throw new ApiError(400, ApiErrorCode.BAD_JSON, 'the body is empty although it was announced as JSON');
  }
  if (!isUtf8(body)) {
    throw new ApiError(400, ApiErrorCode.BAD_JSON, 'the body is not valid UTF-8 (JSON must be UTF-8)');
  }
  if (jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new ApiError(
      400,
      ApiErrorCode.NESTING_TOO_DEEP,
      `the body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`,
    );
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new ApiError(400, ApiErrorCode.BAD_JSON, `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Installs the JSON parser above in place of Fastify's, and no parser for anything else: other content
 * types are 415. The body limit is the instance's or the route's, as for Fastify's own parsers.
 */
export function installBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (request: FastifyRequest, body: Buffer, done: (error: Error | null, body?: unknown) => void) => {
      try {
        done(null, parseJsonBody(request, body));
      } catch (error) {
        done(error as Error);
      }
    },
  );
}

/** Errors Fastify's router raises before any hook runs (a bad URL, a path parameter too long). */
export function frameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply
      .code(414)
      .send(errorBody(ApiErrorCode.URI_TOO_LONG, `a path parameter is longer than ${MAX_PARAM_BYTES} bytes`));
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    void reply
      .code(400)
      .send(errorBody(ApiErrorCode.BAD_REQUEST, 'the URL is not valid (bad percent-encoding?)'));
    return;
  }
  void reply.code(500).send(errorBody(ApiErrorCode.INTERNAL, 'the server failed routing the request'));
}

/**
 * Errors of Node's HTTP parser, before Fastify sees a request (a malformed request line, headers too
 * large, a request that took too long): answered like Node does — then the connection closes — but with
 * the API's error body.
 */
export function clientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ([
          431,
          'Request Header Fields Too Large',
          ApiErrorCode.HEADERS_TOO_LARGE,
          'the request headers are too large',
        ] as const)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([
            408,
            'Request Timeout',
            ApiErrorCode.REQUEST_TIMEOUT,
            'the request was not received in time',
          ] as const)
        : ([400, 'Bad Request', ApiErrorCode.BAD_REQUEST, 'the request is not valid HTTP'] as const);
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
