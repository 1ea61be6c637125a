// One coded-error shape across the packages: every error class with a stable code extends the protocol's
// CodedError, keeps its own name, and carries its code and cause the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodedError, ProtocolError, ProtocolErrorCode } from '@localpush/protocol';
import {
  AppPushError,
  AppPushErrorCode,
  ClientError,
  ClientErrorCode,
  ProviderHostError,
  ProviderHostErrorCode,
} from '@localpush/client';
import { ApnsClientError } from '../../src/apns/client.js';
import { ServerErrorCode, StoreError } from '../../src/errors.js';
import { ApiError, ApiErrorCode } from '../../src/http/errors.js';
import { SimplePushError, SimplePushErrorCode } from '../../src/simplepush/codec.js';

test('every coded error is a CodedError with its own name, its code and its cause', () => {
  const cause = new Error('underneath');
  const errors: [CodedError, string, string][] = [
    [
      new ProtocolError(ProtocolErrorCode.FRAME_TOO_LARGE, 'm', { cause }),
      'ProtocolError',
      'LP_FRAME_TOO_LARGE',
    ],
    [
      new ClientError(ClientErrorCode.CONNECT_TIMEOUT, 'm', { cause }),
      'ClientError',
      ClientErrorCode.CONNECT_TIMEOUT,
    ],
    [
      new AppPushError(AppPushErrorCode.configurationInvalid, 'm', { cause }),
      'AppPushError',
      'LP_APPPUSH_CONFIGURATION_INVALID',
    ],
    [
      new ProviderHostError(ProviderHostErrorCode.START_TIMEOUT, 'm'),
      'ProviderHostError',
      ProviderHostErrorCode.START_TIMEOUT,
    ],
    [new StoreError(ServerErrorCode.STORE_CORRUPT, 'm', { cause }), 'StoreError', 'LP_STORE_CORRUPT'],
    [new ApiError(404, ApiErrorCode.NOT_FOUND, 'm'), 'ApiError', ApiErrorCode.NOT_FOUND],
    [new ApnsClientError('CONNECT_FAILED', 'm', false, { cause }), 'ApnsClientError', 'CONNECT_FAILED'],
    [new SimplePushError(SimplePushErrorCode.BAD_JSON, 'm', { cause }), 'SimplePushError', 'LP_SP_BAD_JSON'],
  ];
  for (const [error, name, code] of errors) {
    assert.ok(error instanceof CodedError && error instanceof Error, name);
    assert.equal(error.name, name);
    assert.equal(error.code, code);
    assert.equal(error.message, 'm');
    if (error.cause !== undefined) assert.equal(error.cause, cause);
  }
  assert.equal(new ClientError(ClientErrorCode.CONNECT_TIMEOUT, 'm').fromServer, false);
  assert.equal(new AppPushError(AppPushErrorCode.configurationInvalid, 'm').errno, 1);
  assert.equal(new ApiError(404, ApiErrorCode.NOT_FOUND, 'm').statusCode, 404);
});
