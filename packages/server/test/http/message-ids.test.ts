/**
 * Message ids scoped honestly, over the real server and real HTTP on loopback: the same id for the same
 * device with the same content is a retry (200, `duplicate: true`); the same id for another device or
 * with other content is refused with 409 LP_API_MESSAGE_ID_CONFLICT — never a 2xx that delivers nothing.
 * In a batch each message gets its own answer. Over the APNs endpoint, where apns-ids are not scoped, a
 * reused apns-id reaches the second device too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';

/** The parts of API answers these tests read. */
interface Body {
  results: Result[];
  error: { code: string; message: string; details: { field: string }[] };
  message: { device: string };
  messages: unknown[];
}

interface Result {
  device: string;
  id: string;
  status: string;
  duplicate: boolean;
  seq?: number;
  error?: { code: string; message: string };
}

describe('message ids', () => {
  let loop: LoopbackServer;
  const call = (method: string, path: string, body?: unknown) => loop.call<Body>(method, path, body);

  before(async () => {
    loop = await startLoopbackServer('localpush-ids-');
    for (const id of ['a', 'b']) assert.equal((await call('POST', '/v1/devices', { id })).status, 201);
  });

  after(() => loop.close());

  const push = (extra: Record<string, unknown>) => ({ kind: 'alert', payload: { text: 'hi' }, ...extra });

  it('answers a retry (same id, device and content) with the first outcome and duplicate: true', async () => {
    const first = await call('POST', '/v1/push', push({ to: 'a', id: 'order-1' }));
    assert.equal(first.status, 200);
    const again = await call('POST', '/v1/push', push({ to: ['a'], id: 'order-1' }));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.results, [{ ...first.body.results[0], duplicate: true }]);
  });

  it('refuses the same id for another device with 409, and B is not told it was queued', async () => {
    await call('POST', '/v1/push', push({ to: 'a', id: 'shared-1' }));
    const refused = await call('POST', '/v1/push', push({ to: 'b', id: 'shared-1' }));
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'LP_API_MESSAGE_ID_CONFLICT');
    assert.match(refused.body.error.message, /another device/);
    assert.deepEqual(
      refused.body.error.details.map((d) => d.field),
      ['body.id'],
    );
    const status = await call('GET', '/v1/messages/shared-1');
    assert.equal(status.body.message.device, 'a');
    const bMessages = await call('GET', '/v1/devices/b/messages');
    assert.deepEqual(bMessages.body.messages, []);
  });

  it('refuses the same id with other content with 409, also when waiting for the ack', async () => {
    await call('POST', '/v1/push', push({ to: 'a', id: 'changed-1' }));
    for (const body of [
      push({ to: 'a', id: 'changed-1', payload: { text: 'other' } }),
      push({ to: 'a', id: 'changed-1', kind: 'call' }),
      push({ to: 'a', id: 'changed-1', priority: 5 }),
      push({ to: 'a', id: 'changed-1', wait: true, waitTimeoutMs: 5000, payload: 1 }),
    ]) {
      const refused = await call('POST', '/v1/push', body);
      assert.equal(refused.status, 409, JSON.stringify(body));
      assert.equal(refused.body.error.code, 'LP_API_MESSAGE_ID_CONFLICT');
      assert.match(refused.body.error.message, /other content/);
    }
  });

  it('answers each message of a batch on its own: queued, duplicate and conflict side by side', async () => {
    const answer = await call('POST', '/v1/push/batch', {
      messages: [
        push({ to: 'a', id: 'batch-1' }),
        push({ to: 'b', id: 'batch-1' }),
        push({ to: 'a', id: 'batch-1' }),
        push({ to: 'a', id: 'batch-1', payload: 2 }),
        push({ to: 'b', id: 'batch-2' }),
      ],
    });
    assert.equal(answer.status, 200);
    const results = answer.body.results;
    assert.deepEqual(
      results.map((r) => [r.device, r.status, r.duplicate, r.error?.code]),
      [
        ['a', 'queued', false, undefined],
        ['b', 'conflict', false, 'LP_API_MESSAGE_ID_CONFLICT'],
        ['a', 'queued', true, undefined],
        ['a', 'conflict', false, 'LP_API_MESSAGE_ID_CONFLICT'],
        ['b', 'queued', false, undefined],
      ],
    );
    assert.equal(results[1]?.seq, undefined);
  });
});
