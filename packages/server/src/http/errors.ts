/**
 * The HTTP API's error codes and error body. Every 4xx/5xx answer is
 * `{ "error": { "code": "LP_API_…", "message": "…", "details"?: […] } }`; the codes are stable and listed in
 * docs/http-api.md.
 */
import { CodedError } from '@localpush/protocol';

/** Stable error codes of the HTTP API, with the status each is sent with. */
export const ApiErrorCode = {
  /** 400: the request does not match the schema, or breaks a rule the schema cannot express. */
  BAD_REQUEST: 'LP_API_BAD_REQUEST',
  /** 400: the body is not JSON: not UTF-8, not valid JSON, or empty while JSON was announced. */
  BAD_JSON: 'LP_API_BAD_JSON',
  /** 400: the body nests arrays and objects deeper than the API's limit (64). */
  NESTING_TOO_DEEP: 'LP_API_NESTING_TOO_DEEP',
  /** 401: no `Authorization: Bearer <provider key>`, or not a known key. */
  UNAUTHORIZED: 'LP_API_UNAUTHORIZED',
  /** 404: no such route. */
  NOT_FOUND: 'LP_API_NOT_FOUND',
  /** 404: no message with this id. */
  MESSAGE_NOT_FOUND: 'LP_API_MESSAGE_NOT_FOUND',
  /** 404: no device with this id. */
  DEVICE_NOT_FOUND: 'LP_API_DEVICE_NOT_FOUND',
  /** 409: a device with this id is already registered. */
  DEVICE_EXISTS: 'LP_API_DEVICE_EXISTS',
  /**
   * 409: the message id already names a message for another device, or with other content; nothing was
   * stored. (The same id, device and content again is a duplicate: 200 with `duplicate: true`.)
   */
  MESSAGE_ID_CONFLICT: 'LP_API_MESSAGE_ID_CONFLICT',
  /** 413: the request body exceeds the route's body limit. */
  BODY_TOO_LARGE: 'LP_API_BODY_TOO_LARGE',
  /** 413: a push payload's JSON exceeds what fits in a protocol frame (60 KiB by default). */
  PAYLOAD_TOO_LARGE: 'LP_API_PAYLOAD_TOO_LARGE',
  /** 415: the body is not `application/json` (in UTF-8). */
  UNSUPPORTED_MEDIA_TYPE: 'LP_API_UNSUPPORTED_MEDIA_TYPE',
  /** 414: a path parameter is longer than any id can be, even percent-encoded. */
  URI_TOO_LONG: 'LP_API_URI_TOO_LONG',
  /** 431: the request's headers are larger than the server accepts. */
  HEADERS_TOO_LARGE: 'LP_API_HEADERS_TOO_LARGE',
  /** 408: the request did not arrive in time. */
  REQUEST_TIMEOUT: 'LP_API_REQUEST_TIMEOUT',
  /** 503: the server is shutting down. */
  SHUTTING_DOWN: 'LP_API_SHUTTING_DOWN',
  /** 503: the store (Redis) cannot be reached or cannot confirm a write now; retry with the same message id. */
  STORE_UNAVAILABLE: 'LP_API_STORE_UNAVAILABLE',
  /** 409: `POST /v1/admin/backup` on a store without a file to copy (memory, Redis). */
  BACKUP_UNSUPPORTED: 'LP_API_BACKUP_UNSUPPORTED',
  /** 500: the server failed (see its log); safe to retry with the same message id. */
  INTERNAL: 'LP_API_INTERNAL',
} as const;

export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** One detail of an error: the field it is about (`body.to[2]`, `query.limit`) and what is wrong. */
export interface ApiErrorDetail {
  field: string;
  message: string;
}

/** The body of every error answer. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: ApiErrorDetail[] };
}

/** An error a route throws to answer with a given status and code. */
export class ApiError extends CodedError<ApiErrorCode> {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    code: ApiErrorCode,
    message: string,
    readonly details?: ApiErrorDetail[],
  ) {
    super(code, message);
  }

  /** The JSON body of this error. */
  toBody(): ApiErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

/** Builds an error body. */
export function errorBody(code: ApiErrorCode, message: string, details?: ApiErrorDetail[]): ApiErrorBody {
  return details === undefined || details.length === 0
    ? { error: { code, message } }
    : { error: { code, message, details } };
}

/** A 400 naming the offending field. */
export function badRequest(field: string, message: string): ApiError {
  return new ApiError(400, ApiErrorCode.BAD_REQUEST, `${field}: ${message}`, [{ field, message }]);
}

/** The JSON schema of the error body, for route response schemas and OpenAPI. */
export const errorBodySchema = {
  type: 'object',
  description: 'Every 4xx/5xx answer has this shape; `code` is stable (see docs/http-api.md).',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.values(ApiErrorCode) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            required: ['field', 'message'],
            properties: { field: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;
