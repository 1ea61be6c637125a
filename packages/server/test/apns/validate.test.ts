// validateApnsRequest: every reason it produces, each from its one cause (table-driven), plus the parsed
// form of valid requests — notably expiration 0 versus absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  APNS_REASON_STATUS,
  APNS_PUSH_TYPES,
  APNS_TOPIC_SUFFIX,
  checkTokenTopic,
  validateApnsRequest,
  type ApnsReason,
  type ApnsRequestInput,
  type ProviderAuth,
} from '../../src/apns/index.js';
import { DEVICE } from './helpers.js';

const OK_AUTH: ProviderAuth = { ok: true, teamId: 'TEAM123456', keyId: 'KEY1234567' };
const BODY = Buffer.from('{"aps":{"alert":"hi"}}');

/** A valid alert request; `headers` entries override (undefined removes) the defaults. */
function input(
  overrides: Partial<Omit<ApnsRequestInput, 'rawHeaders'>> & {
    headers?: Record<string, string | undefined>;
    extraRaw?: string[];
  } = {},
): ApnsRequestInput {
  const headers: Record<string, string | undefined> = {
    authorization: 'bearer x',
    'apns-push-type': 'alert',
    'apns-topic': 'com.example.app',
    ...overrides.headers,
  };
  const rawHeaders: string[] = [
    ':method',
    overrides.method ?? 'POST',
    ':path',
    overrides.path ?? `/3/device/${DEVICE}`,
  ];
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) rawHeaders.push(name, value);
  rawHeaders.push(...(overrides.extraRaw ?? []));
  return {
    method: overrides.method ?? 'POST',
    path: overrides.path ?? `/3/device/${DEVICE}`,
    rawHeaders,
    body: overrides.body ?? BODY,
    auth: overrides.auth ?? OK_AUTH,
  };
}

const cases: [string, ApnsReason, ApnsRequestInput][] = [
  ['path outside /3/device', 'BadPath', input({ path: '/2/device/abcd' })],
  ['path with extra segment', 'BadPath', input({ path: `/3/device/${DEVICE}/x` })],
  ['GET on a device path', 'MethodNotAllowed', input({ method: 'GET' })],
  ['empty token', 'MissingDeviceToken', input({ path: '/3/device/' })],
  ['no token segment', 'MissingDeviceToken', input({ path: '/3/device' })],
  ['non-hex token', 'BadDeviceToken', input({ path: '/3/device/xyz123' })],
  ['odd-length token', 'BadDeviceToken', input({ path: '/3/device/abc' })],
  ['duplicate apns-topic', 'DuplicateHeaders', input({ extraRaw: ['apns-topic', 'com.example.other'] })],
  [
    'duplicate authorization (other case)',
    'DuplicateHeaders',
    input({ extraRaw: ['Authorization', 'bearer y'] }),
  ],
  ['malformed apns-id', 'BadMessageId', input({ headers: { 'apns-id': 'not-a-uuid' } })],
  [
    'missing provider token',
    'MissingProviderToken',
    input({ auth: { ok: false, reason: 'MissingProviderToken' } }),
  ],
  [
    'invalid provider token',
    'InvalidProviderToken',
    input({ auth: { ok: false, reason: 'InvalidProviderToken' } }),
  ],
  [
    'expired provider token',
    'ExpiredProviderToken',
    input({ auth: { ok: false, reason: 'ExpiredProviderToken' } }),
  ],
  [
    'key of another team',
    'UnrelatedKeyIdInToken',
    input({ auth: { ok: false, reason: 'UnrelatedKeyIdInToken' } }),
  ],
  [
    'key not for this environment',
    'BadEnvironmentKeyIdInToken',
    input({ auth: { ok: false, reason: 'BadEnvironmentKeyIdInToken' } }),
  ],
  [
    'token switched twice in 20 min',
    'TooManyProviderTokenUpdates',
    input({ auth: { ok: false, reason: 'TooManyProviderTokenUpdates' } }),
  ],
  ['unknown push type', 'InvalidPushType', input({ headers: { 'apns-push-type': 'banner' } })],
  ['no topic', 'MissingTopic', input({ headers: { 'apns-topic': undefined } })],
  ['empty topic', 'MissingTopic', input({ headers: { 'apns-topic': '' } })],
  ['topic with spaces', 'BadTopic', input({ headers: { 'apns-topic': 'com.example app' } })],
  [
    'voip without .voip',
    'BadTopic',
    input({ headers: { 'apns-push-type': 'voip', 'apns-topic': 'com.example.app' } }),
  ],
  ['alert to a .voip topic', 'BadTopic', input({ headers: { 'apns-topic': 'com.example.app.voip' } })],
  [
    'bare suffix as topic',
    'BadTopic',
    input({ headers: { 'apns-push-type': 'voip', 'apns-topic': '.voip' } }),
  ],
  ['non-numeric expiration', 'BadExpirationDate', input({ headers: { 'apns-expiration': 'tomorrow' } })],
  ['negative expiration', 'BadExpirationDate', input({ headers: { 'apns-expiration': '-1' } })],
  ['empty expiration', 'BadExpirationDate', input({ headers: { 'apns-expiration': '' } })],
  ['priority 7', 'BadPriority', input({ headers: { 'apns-priority': '7' } })],
  [
    'background at priority 10',
    'BadPriority',
    input({ headers: { 'apns-push-type': 'background', 'apns-priority': '10' } }),
  ],
  [
    'pushtotalk at priority 5',
    'BadPriority',
    input({
      headers: {
        'apns-push-type': 'pushtotalk',
        'apns-topic': 'com.example.app.voip-ptt',
        'apns-priority': '5',
        'apns-expiration': '0',
      },
    }),
  ],
  [
    'pushtotalk without expiration 0',
    'BadExpirationDate',
    input({ headers: { 'apns-push-type': 'pushtotalk', 'apns-topic': 'com.example.app.voip-ptt' } }),
  ],
  [
    'pushtotalk with a stored expiration',
    'BadExpirationDate',
    input({
      headers: {
        'apns-push-type': 'pushtotalk',
        'apns-topic': 'com.example.app.voip-ptt',
        'apns-expiration': '9',
      },
    }),
  ],
  ['collapse id of 65 bytes', 'BadCollapseId', input({ headers: { 'apns-collapse-id': 'x'.repeat(65) } })],
  [
    'collapse id of 33 two-byte chars',
    'BadCollapseId',
    input({ headers: { 'apns-collapse-id': 'é'.repeat(33) } }),
  ],
  ['empty body', 'PayloadEmpty', input({ body: Buffer.alloc(0) })],
  ['body not a JSON object', 'PayloadEmpty', input({ body: Buffer.from('[1,2]') })],
  ['body not JSON', 'PayloadEmpty', input({ body: Buffer.from('{"aps":') })],
  ['alert of 4097 bytes', 'PayloadTooLarge', input({ body: jsonOfSize(4097) })],
  [
    'voip of 5121 bytes',
    'PayloadTooLarge',
    input({
      headers: { 'apns-push-type': 'voip', 'apns-topic': 'com.example.app.voip' },
      body: jsonOfSize(5121),
    }),
  ],
];

function jsonOfSize(bytes: number): Buffer {
  const skeleton = '{"aps":{},"p":""}';
  return Buffer.from(`{"aps":{},"p":"${'a'.repeat(bytes - skeleton.length)}"}`);
}

for (const [cause, reason, request] of cases) {
  test(`${reason} (${APNS_REASON_STATUS[reason]}) for ${cause}`, () => {
    const result = validateApnsRequest(request, { generateId: () => 'generated' });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.error, { status: APNS_REASON_STATUS[reason], reason });
  });
}

test('the reason table is complete and every status is the documented one', () => {
  assert.equal(Object.keys(APNS_REASON_STATUS).length, 32);
  const byStatus = new Map<number, string[]>();
  for (const [reason, status] of Object.entries(APNS_REASON_STATUS)) {
    byStatus.set(status, [...(byStatus.get(status) ?? []), reason]);
  }
  assert.deepEqual([...byStatus.keys()].sort(), [400, 403, 404, 405, 410, 413, 429, 500, 503]);
  assert.deepEqual(byStatus.get(410), ['ExpiredToken', 'Unregistered']);
  assert.deepEqual(byStatus.get(503), ['ServiceUnavailable', 'Shutdown']);
});

test('an error echoes a well-formed apns-id and generates one otherwise', () => {
  const id = '0b2e5a3c-1d4f-4e6a-9b8c-7d6e5f4a3b2c';
  const withId = validateApnsRequest(input({ headers: { 'apns-id': id, 'apns-topic': undefined } }));
  assert.equal(!withId.ok && withId.apnsId, id);
  const bad = validateApnsRequest(input({ headers: { 'apns-id': 'nope' } }), { generateId: () => 'g-1' });
  assert.equal(!bad.ok && bad.apnsId, 'g-1');
});

test('valid request: fields parsed, payload untouched, 0 and absent expiration distinct', () => {
  const id = '0B2E5A3C-1D4F-4E6A-9B8C-7D6E5F4A3B2C';
  const result = validateApnsRequest(
    input({
      path: `/3/device/${DEVICE.toUpperCase()}`,
      headers: {
        'apns-id': id,
        'apns-expiration': '0',
        'apns-priority': '1',
        'apns-collapse-id': 'x'.repeat(64),
      },
    }),
  );
  assert.ok(result.ok);
  const r = result.request;
  assert.equal(r.deviceToken, DEVICE);
  assert.equal(r.apnsId, id, 'sent ids are echoed as sent');
  assert.equal(r.apnsIdGenerated, false);
  assert.equal(r.expiration, 0);
  assert.equal(r.priority, 1);
  assert.equal(r.payload, BODY);
  assert.deepEqual(r.json, { aps: { alert: 'hi' } });
  assert.equal(r.teamId, 'TEAM123456');

  const absent = validateApnsRequest(input());
  assert.ok(absent.ok);
  assert.equal(absent.request.expiration, undefined);
  assert.equal(absent.request.priority, 10);
  assert.match(
    absent.request.apnsId,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.equal(absent.request.apnsIdGenerated, true);
});

test('every push type is accepted with its topic suffix; limits at the boundary pass', () => {
  for (const pushType of APNS_PUSH_TYPES) {
    const headers: Record<string, string> = {
      'apns-push-type': pushType,
      'apns-topic': `com.example.app${APNS_TOPIC_SUFFIX[pushType]}`,
    };
    if (pushType === 'background') headers['apns-priority'] = '5';
    if (pushType === 'pushtotalk') headers['apns-expiration'] = '0';
    const body = jsonOfSize(pushType === 'voip' ? 5120 : 4096);
    const result = validateApnsRequest(input({ headers, body }));
    assert.ok(result.ok, `${pushType}: ${result.ok ? '' : result.error.reason}`);
    assert.equal(result.request.pushType, pushType);
  }
});

test('background defaults to priority 5; a missing push type is inferred from the topic', () => {
  const bg = validateApnsRequest(input({ headers: { 'apns-push-type': 'background' } }));
  assert.ok(bg.ok);
  assert.equal(bg.request.priority, 5);
  const voip = validateApnsRequest(
    input({ headers: { 'apns-push-type': undefined, 'apns-topic': 'com.example.app.voip' } }),
  );
  assert.ok(voip.ok);
  assert.equal(voip.request.pushType, 'voip');
  const alert = validateApnsRequest(input({ headers: { 'apns-push-type': undefined } }));
  assert.ok(alert.ok);
  assert.equal(alert.request.pushType, 'alert');
});

test('checkTokenTopic: DeviceTokenNotForTopic when the token belongs to another app', () => {
  assert.equal(
    checkTokenTopic('com.example.app', { topic: 'com.example.app.voip', pushType: 'voip' }),
    undefined,
  );
  assert.deepEqual(checkTokenTopic('com.example.other', { topic: 'com.example.app', pushType: 'alert' }), {
    status: 400,
    reason: 'DeviceTokenNotForTopic',
  });
});
