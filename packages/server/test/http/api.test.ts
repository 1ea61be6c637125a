import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { verifyCredential } from '../../src/engine/devices.js';
import { EngineClosedError } from '../../src/engine/engine.js';
import { buildHttpApi, DEFAULT_MAX_PAYLOAD_BYTES } from '../../src/http/api.js';
import { ApiErrorCode } from '../../src/http/errors.js';
import { AUTH, errorCode, json, KEY, setupApi } from './helpers.js';

interface Result {
  device: string;
  id: string;
  status: string;
  duplicate: boolean;
  seq?: number;
}
interface Details {
  error: { code: string; message: string; details?: { field: string; message: string }[] };
}

const push = (extra: Record<string, unknown> = {}) => ({
  to: 'd1',
  kind: 'alert',
  payload: { text: 'hi' },
  ...extra,
});
const results = (response: { body: string }) => json<{ results: Result[] }>(response as never).results;
const fields = (response: { body: string }) =>
  (json<Details>(response as never).error.details ?? []).map((d) => d.field);

describe('authentication', () => {
  test('/healthz is open; everything else needs a provider key', async () => {
    const t = await setupApi();
    const health = await t.request('GET', '/healthz', undefined, {});
    assert.equal(health.statusCode, 200);
    assert.deepEqual(json(health), { status: 'ok' });

    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${KEY}` },
    ];
    for (const headers of attempts) {
      const response = await t.request('GET', '/v1/devices', undefined, headers);
      assert.equal(response.statusCode, 401);
      assert.equal(errorCode(response), ApiErrorCode.UNAUTHORIZED);
      assert.match(String(response.headers['www-authenticate']), /^Bearer/);
    }
    const second = await t.request('GET', '/v1/devices', undefined, {
      authorization: 'bearer lpk_second-key-abcdefgh',
    });
    assert.equal(second.statusCode, 200);
    assert.equal((await t.request('GET', '/openapi.json', undefined, {})).statusCode, 401);
    assert.equal((await t.request('GET', '/nowhere', undefined, {})).statusCode, 401);
    await t.close();
  });

  test('an unknown route is LP_API_NOT_FOUND', async () => {
    const t = await setupApi();
    const response = await t.request('GET', '/v1/nowhere');
    assert.equal(response.statusCode, 404);
    assert.equal(errorCode(response), ApiErrorCode.NOT_FOUND);
    await t.close();
  });

  test('buildHttpApi refuses to start without a provider key', () => {
    assert.throws(
      () => buildHttpApi({ engine: {} as never, directory: {} as never, providerKeys: [] }),
      /provider key/,
    );
  });
});

describe('POST /v1/push', () => {
  test('queues for an offline device and sends to an online one', async () => {
    const t = await setupApi();
    const session = await t.connect('d2');
    const response = await t.request(
      'POST',
      '/v1/push',
      push({ to: ['d1', 'd2', 'ghost'], collapseId: 'c' }),
    );
    assert.equal(response.statusCode, 200);
    const [d1, d2, ghost] = results(response);
    assert.deepEqual(d1 && { ...d1, id: '' }, {
      device: 'd1',
      id: '',
      status: 'queued',
      duplicate: false,
      seq: 1,
    });
    assert.equal(d2?.status, 'sent');
    assert.deepEqual(ghost && { ...ghost, id: '' }, {
      device: 'ghost',
      id: '',
      status: 'unknown_device',
      duplicate: false,
    });
    assert.notEqual(d1?.id, d2?.id);
    assert.equal(session.pushes[0]?.id, d2?.id);
    assert.equal(session.pushes[0]?.priority, 10, 'priority defaults to 10');
    assert.equal(session.pushes[0]?.collapseId, 'c');
    await t.close();
  });

  test('an id makes the submit idempotent', async () => {
    const t = await setupApi();
    const first = results(await t.request('POST', '/v1/push', push({ id: 'order-1' })))[0];
    const again = results(await t.request('POST', '/v1/push', push({ id: 'order-1', to: ['d1'] })))[0];
    assert.deepEqual(first, { device: 'd1', id: 'order-1', status: 'queued', duplicate: false, seq: 1 });
    assert.deepEqual(again, { ...first, duplicate: true });
    const many = await t.request('POST', '/v1/push', push({ id: 'x', to: ['d1', 'd2'] }));
    assert.equal(many.statusCode, 400);
    assert.equal(errorCode(many), ApiErrorCode.BAD_REQUEST);
    assert.deepEqual(fields(many), ['body.id']);
    await t.close();
  });

  test('expiration 0 to an offline device is expired; a past expiration too', async () => {
    const t = await setupApi();
    assert.equal(results(await t.request('POST', '/v1/push', push({ expiration: 0 })))[0]?.status, 'expired');
    assert.equal(results(await t.request('POST', '/v1/push', push({ expiration: 1 })))[0]?.status, 'expired');
    await t.close();
  });

  test('invalid bodies are LP_API_BAD_REQUEST naming the field', async () => {
    const t = await setupApi();
    const cases: [Record<string, unknown>, string][] = [
      [{ to: 'd1', kind: 'alert' }, 'body.payload'],
      [push({ kind: 'shout' }), 'body.kind'],
      [push({ to: [] }), 'body.to'],
      [push({ to: ['d1', 'd1'] }), 'body.to'],
      [push({ to: 'bad id' }), 'body.to'],
      [push({ to: Array.from({ length: 1001 }, (_, i) => `d${i}`) }), 'body.to'],
      [push({ priority: '10' }), 'body.priority'],
      [push({ priority: 7 }), 'body.priority'],
      [push({ expiration: -1 }), 'body.expiration'],
      [push({ expiration: 1.5 }), 'body.expiration'],
      [push({ collapseId: 'x'.repeat(65) }), 'body.collapseId'],
      [push({ collapseId: '😀'.repeat(40) }), 'body.collapseId'],
      [push({ id: 'has space' }), 'body.id'],
      [push({ wait: 'yes' }), 'body.wait'],
      [push({ waitTimeoutMs: 0 }), 'body.waitTimeoutMs'],
      [push({ waitTimeoutMs: 60_001 }), 'body.waitTimeoutMs'],
      [push({ extra: true }), 'body.extra'],
    ];
    for (const [body, field] of cases) {
      const response = await t.request('POST', '/v1/push', body);
      assert.equal(response.statusCode, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(errorCode(response), ApiErrorCode.BAD_REQUEST);
      assert.ok(fields(response).includes(field), `${field} in ${response.body}`);
    }
    const to = await t.request('POST', '/v1/push', push({ to: 5 }));
    assert.equal(json<Details>(to).error.message, 'body.to: must be string or array');
    await t.close();
  });

  test('a payload over 60 KiB of JSON is LP_API_PAYLOAD_TOO_LARGE; one at the limit is fine', async () => {
    const t = await setupApi();
    const fits = 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES - 2);
    assert.equal((await t.request('POST', '/v1/push', push({ payload: fits }))).statusCode, 200);
    const response = await t.request('POST', '/v1/push', push({ payload: `${fits}x` }));
    assert.equal(response.statusCode, 413);
    assert.equal(errorCode(response), ApiErrorCode.PAYLOAD_TOO_LARGE);
    assert.deepEqual(fields(response), ['body.payload']);
    await t.close();
  });

  test('bad JSON, an empty body, a body too large and the wrong media type', async () => {
    const t = await setupApi({ api: { bodyLimitBytes: 100_000 } });
    const json400 = { ...AUTH, 'content-type': 'application/json' };
    const bad = await t.request('POST', '/v1/push', '{"to":', json400);
    assert.equal(bad.statusCode, 400);
    assert.equal(errorCode(bad), ApiErrorCode.BAD_JSON);
    const empty = await t.request('POST', '/v1/push', '', json400);
    assert.equal(empty.statusCode, 400);
    assert.equal(errorCode(empty), ApiErrorCode.BAD_JSON);
    const large = await t.request('POST', '/v1/push', push({ payload: 'x'.repeat(100_001) }));
    assert.equal(large.statusCode, 413);
    assert.equal(errorCode(large), ApiErrorCode.BODY_TOO_LARGE);
    const text = await t.request('POST', '/v1/push', 'hello', { ...AUTH, 'content-type': 'text/csv' });
    assert.equal(text.statusCode, 415);
    assert.equal(errorCode(text), ApiErrorCode.UNSUPPORTED_MEDIA_TYPE);
    await t.close();
  });

  test('wait: delivered when the device acks', async () => {
    const t = await setupApi();
    const session = await t.connect('d1');
    const pending = t.request('POST', '/v1/push', push({ id: 'w1', wait: true }));
    await session.waitForPushes(1);
    session.ackAll(t.engine);
    assert.deepEqual(results(await pending), [
      { device: 'd1', id: 'w1', status: 'delivered', duplicate: false, seq: 1 },
    ]);
    // Asking again for an acked id answers delivered at once.
    const again = await t.request('POST', '/v1/push', push({ id: 'w1', wait: true }));
    assert.deepEqual(results(again)[0], {
      device: 'd1',
      id: 'w1',
      status: 'delivered',
      duplicate: true,
      seq: 1,
    });
    await t.close();
  });

  test('wait: timeout for a device that does not ack, per device', async () => {
    const t = await setupApi();
    const session = await t.connect('d1');
    const pending = t.request(
      'POST',
      '/v1/push',
      push({ to: ['d1', 'd2'], wait: true, waitTimeoutMs: 2000 }),
    );
    await session.waitForPushes(1);
    session.ackAll(t.engine);
    while (t.engine.waiterCount !== 1) await t.engine.idle();
    t.clock.advance(2000);
    const [d1, d2] = results(await pending);
    assert.equal(d1?.status, 'delivered');
    assert.equal(d2?.status, 'timeout');
    assert.equal(t.engine.waiterCount, 0);
    assert.equal((await t.store.getMessage(d2?.id ?? ''))?.state, 'queued', 'it stays queued for redelivery');
    await t.close();
  });

  test('a full queue drops the oldest and the device is told in a notice', async () => {
    const t = await setupApi({ engineOptions: { maxQueuePerDevice: 2 } });
    for (let i = 1; i <= 3; i++) await t.request('POST', '/v1/push', push({ id: `m${i}` }));
    const status = json<{ message: { state: string }; receipts: { event: string; detail: string | null }[] }>(
      await t.request('GET', '/v1/messages/m1'),
    );
    assert.equal(status.message.state, 'overflowed');
    assert.deepEqual(status.receipts.at(-1), { event: 'overflowed', at: t.clock.now(), detail: 'm3' });
    const session = await t.connect('d1');
    assert.deepEqual(
      session.notices.map((n) => [n.code, n.count]),
      [['queue_overflow', 1]],
    );
    assert.deepEqual(session.seqs, [2, 3]);
    await t.close();
  });

  test('a collapse id replaces the undelivered older message', async () => {
    const t = await setupApi();
    await t.request('POST', '/v1/push', push({ id: 'a', collapseId: 'score' }));
    await t.request('POST', '/v1/push', push({ id: 'b', collapseId: 'score' }));
    const a = json<{ message: { state: string } }>(await t.request('GET', '/v1/messages/a'));
    assert.equal(a.message.state, 'collapsed');
    const session = await t.connect('d1');
    assert.deepEqual(
      session.pushes.map((p) => p.id),
      ['b'],
    );
    await t.close();
  });

  test('a closed engine is LP_API_SHUTTING_DOWN; an engine failure is LP_API_INTERNAL', async () => {
    const t = await setupApi({
      wrapEngine: (engine) => ({
        ...engine,
        submit: (request) =>
          request.deviceId === 'd2' ? Promise.reject(new Error('disk on fire')) : engine.submit(request),
        submitAndWait: (r, ms) => engine.submitAndWait(r, ms),
        status: (id) => engine.status(id),
        onReceipt: (l) => engine.onReceipt(l),
        listMessages: (id, o) => engine.listMessages(id, o),
      }),
    });
    const failed = await t.request('POST', '/v1/push', push({ to: 'd2' }));
    assert.equal(failed.statusCode, 500);
    assert.equal(errorCode(failed), ApiErrorCode.INTERNAL);
    assert.equal(failed.body.includes('disk on fire'), false, 'internals are not leaked');
    await t.engine.close();
    const closed = await t.request('POST', '/v1/push', push());
    assert.equal(closed.statusCode, 503);
    assert.equal(errorCode(closed), ApiErrorCode.SHUTTING_DOWN);
    await assert.rejects(
      t.engine.submit({ deviceId: 'd1', kind: 'alert', payload: 1, priority: 10 }),
      EngineClosedError,
    );
    await t.close();
  });
});

describe('POST /v1/push/batch', () => {
  test('answers per message, in order, with seqs in batch order per device', async () => {
    const t = await setupApi();
    const response = await t.request('POST', '/v1/push/batch', {
      messages: [
        { to: 'd1', kind: 'alert', payload: 1 },
        { to: 'd2', kind: 'call', payload: 2, priority: 5 },
        { to: 'd1', id: 'mine', kind: 'message', payload: 3, expiration: 0 },
        { to: 'd1', kind: 'alert', payload: 4 },
        { to: 'ghost', kind: 'alert', payload: 5 },
      ],
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(
      results(response).map((r) => [r.device, r.status, r.seq]),
      [
        ['d1', 'queued', 1],
        ['d2', 'queued', 1],
        ['d1', 'expired', 2],
        ['d1', 'queued', 3],
        ['ghost', 'unknown_device', undefined],
      ],
    );
    assert.equal(results(response)[2]?.id, 'mine');
    await t.close();
  });

  test('validates every message', async () => {
    const t = await setupApi();
    const empty = await t.request('POST', '/v1/push/batch', { messages: [] });
    assert.equal(empty.statusCode, 400);
    assert.deepEqual(fields(empty), ['body.messages']);
    const waiting = await t.request('POST', '/v1/push/batch', {
      messages: [{ to: 'd1', kind: 'alert', payload: 1, wait: true }],
    });
    assert.deepEqual(fields(waiting), ['body.messages[0].wait']);
    const many = await t.request('POST', '/v1/push/batch', {
      messages: [
        { to: 'd1', kind: 'alert', payload: 1 },
        { to: ['d1'], kind: 'alert', payload: 1 },
      ],
    });
    assert.deepEqual(fields(many), ['body.messages[1].to']);
    const large = await t.request('POST', '/v1/push/batch', {
      messages: [
        { to: 'd1', kind: 'alert', payload: 1 },
        { to: 'd1', kind: 'alert', payload: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) },
      ],
    });
    assert.equal(large.statusCode, 413);
    assert.equal(errorCode(large), ApiErrorCode.PAYLOAD_TOO_LARGE);
    assert.deepEqual(fields(large), ['body.messages[1].payload']);
    assert.equal(await t.store.pendingCount('d1'), 0, 'nothing of a refused batch is stored');
    await t.close();
  });
});

describe('messages', () => {
  test('GET /v1/messages/:id shows the message and its receipts', async () => {
    const t = await setupApi();
    const session = await t.connect('d1');
    await t.request('POST', '/v1/push', push({ id: 'm1', collapseId: 'c', priority: 5 }));
    session.ackAll(t.engine);
    await t.engine.idle();
    const response = await t.request('GET', '/v1/messages/m1');
    assert.equal(response.statusCode, 200);
    const now = t.clock.now();
    assert.deepEqual(json(response), {
      message: {
        id: 'm1',
        device: 'd1',
        seq: 1,
        kind: 'alert',
        state: 'acked',
        priority: 5,
        expiration: Math.floor(now / 1000) + 604_800,
        collapseId: 'c',
        acceptedAt: now,
        sentAt: now,
        settledAt: now,
      },
      receipts: [
        { event: 'accepted', at: now, detail: null },
        { event: 'sent', at: now, detail: null },
        { event: 'acked', at: now, detail: null },
      ],
    });
    const missing = await t.request('GET', '/v1/messages/nope');
    assert.equal(missing.statusCode, 404);
    assert.equal(errorCode(missing), ApiErrorCode.MESSAGE_NOT_FOUND);
    await t.close();
  });

  test("GET /v1/devices/:id/messages pages backwards through a device's history", async () => {
    const t = await setupApi();
    for (let i = 1; i <= 5; i++) await t.request('POST', '/v1/push', push({ id: `m${i}` }));
    type Page = { messages: { id: string; seq: number }[]; nextBeforeSeq: number | null };
    const first = json<Page>(await t.request('GET', '/v1/devices/d1/messages?limit=2'));
    assert.deepEqual(
      first.messages.map((m) => m.seq),
      [5, 4],
    );
    assert.equal(first.nextBeforeSeq, 4);
    const second = json<Page>(await t.request('GET', '/v1/devices/d1/messages?limit=3&beforeSeq=4'));
    assert.deepEqual(
      second.messages.map((m) => m.id),
      ['m3', 'm2', 'm1'],
    );
    assert.equal(second.nextBeforeSeq, null);
    const all = json<Page>(await t.request('GET', '/v1/devices/d1/messages'));
    assert.equal(all.messages.length, 5);
    assert.equal(all.nextBeforeSeq, null);
    for (const query of ['limit=0', 'limit=501', 'limit=ten', 'beforeSeq=0']) {
      const response = await t.request('GET', `/v1/devices/d1/messages?${query}`);
      assert.equal(response.statusCode, 400, query);
      assert.equal(fields(response)[0], `query.${query.split('=')[0] ?? ''}`);
    }
    const unknown = await t.request('GET', '/v1/devices/ghost/messages');
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorCode(unknown), ApiErrorCode.DEVICE_NOT_FOUND);
    await t.close();
  });
});

describe('devices', () => {
  test('POST /v1/devices registers a device and answers its credential once', async () => {
    const t = await setupApi({ devices: [] });
    const generated = await t.request('POST', '/v1/devices', {});
    assert.equal(generated.statusCode, 201);
    const body = json<{
      device: { id: string; label: string | null; createdAt: number };
      credential: string;
    }>(generated);
    assert.match(body.device.id, /^dev-[a-z2-7]{10}$/);
    assert.equal(body.device.label, null);
    assert.equal(body.device.createdAt, t.clock.now());
    assert.equal(await verifyCredential(t.store, body.device.id, body.credential), true);

    const named = await t.request('POST', '/v1/devices', { id: 'kiosk-1', label: 'Lobby kiosk' });
    assert.equal(named.statusCode, 201);
    assert.deepEqual(json<{ device: unknown }>(named).device, {
      id: 'kiosk-1',
      label: 'Lobby kiosk',
      createdAt: t.clock.now(),
    });
    const noBody = await t.request('POST', '/v1/devices');
    assert.equal(noBody.statusCode, 201);

    const taken = await t.request('POST', '/v1/devices', { id: 'kiosk-1' });
    assert.equal(taken.statusCode, 409);
    assert.equal(errorCode(taken), ApiErrorCode.DEVICE_EXISTS);
    for (const [body2, field] of [
      [{ id: 'no spaces' }, 'body.id'],
      [{ label: 'x'.repeat(201) }, 'body.label'],
      [{ credential: 'mine' }, 'body.credential'],
    ] as const) {
      const response = await t.request('POST', '/v1/devices', body2);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(fields(response), [field]);
    }
    await t.close();
  });

  test('GET, list with online state, DELETE', async () => {
    const t = await setupApi();
    await t.connect('d2');
    const list = json<{ devices: { id: string; online: boolean }[] }>(await t.request('GET', '/v1/devices'));
    assert.deepEqual(
      list.devices.map((d) => [d.id, d.online]),
      [
        ['d1', false],
        ['d2', true],
      ],
    );
    const one = await t.request('GET', '/v1/devices/d2');
    assert.equal(one.statusCode, 200);
    assert.equal(json<{ device: { online: boolean } }>(one).device.online, true);
    const missing = await t.request('GET', '/v1/devices/ghost');
    assert.equal(missing.statusCode, 404);
    assert.equal(errorCode(missing), ApiErrorCode.DEVICE_NOT_FOUND);
    const invalid = await t.request('GET', '/v1/devices/bad%20id');
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(fields(invalid), ['params.id']);

    const removed = await t.request('DELETE', '/v1/devices/d1');
    assert.equal(removed.statusCode, 204);
    assert.equal(removed.body, '');
    const again = await t.request('DELETE', '/v1/devices/d1');
    assert.equal(again.statusCode, 404);
    assert.equal(errorCode(again), ApiErrorCode.DEVICE_NOT_FOUND);
    await t.close();
  });
});

describe('OpenAPI', () => {
  test('/openapi.json describes every route with bearer auth', async () => {
    const t = await setupApi();
    const response = await t.request('GET', '/openapi.json');
    assert.equal(response.statusCode, 200);
    const doc = json<{
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    }>(response);
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/healthz',
      '/v1/devices',
      '/v1/devices/{id}',
      '/v1/devices/{id}/messages',
      '/v1/messages/{id}',
      '/v1/push',
      '/v1/push/batch',
      '/v1/receipts/stream',
    ]);
    assert.deepEqual(doc.components.securitySchemes.providerKey, { type: 'http', scheme: 'bearer' });
    assert.deepEqual(doc.paths['/healthz']?.get?.security, []);
    assert.ok(doc.paths['/v1/push']?.post);
    await t.close();
  });
});
