/**
 * The edges of the HTTP API, over the real server and real sockets on loopback: every id that can be
 * created can be addressed on every route that has it in the path (at the maximum length, percent-encoded
 * or not); every error — Fastify's and Node's own included — has the API's shape and code; bodies that
 * are not UTF-8, nest too deep, carry prototype keys or are not JSON at all are answered as documented.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { MAX_JSON_DEPTH } from '../../src/http/edge.js';
import type { RunningServer } from '../../src/server.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';
import { RawPeer } from '../helpers/raw-peer.js';

interface ErrorBody {
  error: { code: string; message: string; details?: { field: string; message: string }[] };
}
interface Answer {
  status: number;
  text: string;
  json: unknown;
  type: string | null;
}

/** Device ids allow letters, digits and . _ - : @ — all 128 of them, and ones that need encoding. */
const LONG_DEVICE = `dev-${'x'.repeat(124)}`;
const ENCODED_DEVICE = `${':@'.repeat(64)}`;
/** Message ids allow any printable ASCII but space. */
const LONG_MESSAGE = `m${'a'.repeat(127)}`;
const AWKWARD_MESSAGE = `${'/?#%&'.repeat(25)}abc`;
/** APNs tokens: up to 400 hex digits. */
const LONG_TOKEN = 'ab'.repeat(200);

describe('HTTP API edges', () => {
  let loop: LoopbackServer;
  let server: RunningServer;
  let base: string;
  let credential: Record<string, string>;

  const request = async (
    method: string,
    path: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ): Promise<Answer> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.providerKey}`, ...(body === undefined ? {} : headers) },
      body,
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json, type: response.headers.get('content-type') };
  };
  const send = (method: string, path: string, body: unknown) => request(method, path, JSON.stringify(body));
  const code = (answer: Answer) => (answer.json as ErrorBody | undefined)?.error?.code;
  /** A raw HTTP/1.1 exchange, for what fetch refuses to send. */
  const raw = async (bytes: string | Buffer): Promise<{ status: number; body: ErrorBody }> => {
    const socket = net.connect(server.addresses.api.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(bytes);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'close');
    const text = Buffer.concat(chunks).toString('utf8');
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
    return { status, body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as ErrorBody };
  };

  before(async () => {
    loop = await startLoopbackServer('localpush-edges-', { apnsPort: 0 });
    server = loop.server;
    base = `http://127.0.0.1:${server.addresses.api.port}`;
    credential = {};
    for (const id of [LONG_DEVICE, ENCODED_DEVICE, 'plain', 'proto']) {
      const added = await send('POST', '/v1/devices', { id });
      assert.equal(added.status, 201, added.text);
      credential[id] = (added.json as { credential: string }).credential;
    }
  });

  after(() => loop.close());

  it('addresses 128-character device ids on every device route, percent-encoded or not', async () => {
    for (const id of [LONG_DEVICE, ENCODED_DEVICE]) {
      assert.equal(id.length, 128);
      const path = `/v1/devices/${encodeURIComponent(id)}`;
      const got = await request('GET', path);
      assert.equal(got.status, 200, got.text);
      assert.equal((got.json as { device: { id: string } }).device.id, id);
      assert.equal((await request('GET', `${path}/messages`)).status, 200);
      const token = await send('PUT', `${path}/apns-token`, { token: LONG_TOKEN, topic: 'com.example.app' });
      assert.equal(token.status, 200, token.text);
      assert.equal((await request('GET', `${path}/apns-tokens`)).status, 200);
      const forgotten = await request('DELETE', `${path}/apns-token/${LONG_TOKEN}`);
      assert.equal(forgotten.status, 204, forgotten.text);
    }
    // The id of a device that can be created can also be removed.
    assert.equal((await request('DELETE', `/v1/devices/${LONG_DEVICE}`)).status, 204);
    assert.equal((await request('GET', `/v1/devices/${LONG_DEVICE}`)).status, 404);
  });

  it('addresses 128-character message ids, even ones made of characters that need encoding', async () => {
    for (const id of [LONG_MESSAGE, AWKWARD_MESSAGE]) {
      assert.equal(id.length, 128);
      const pushed = await send('POST', '/v1/push', { to: 'plain', id, kind: 'alert', payload: 1 });
      assert.equal(pushed.status, 200, pushed.text);
      const status = await request('GET', `/v1/messages/${encodeURIComponent(id)}`);
      assert.equal(status.status, 200, status.text);
      assert.equal((status.json as { message: { id: string } }).message.id, id);
    }
  });

  it('answers a path parameter longer than any id with 414 in the API shape', async () => {
    const answer = await request('GET', `/v1/messages/${'a'.repeat(1300)}`);
    assert.equal(answer.status, 414);
    assert.equal(code(answer), 'LP_API_URI_TOO_LONG');
  });

  it("gives Fastify's and Node's own errors the API's shape", async () => {
    const unknown = await request('GET', '/v1/nowhere');
    assert.equal(unknown.status, 404);
    assert.equal(code(unknown), 'LP_API_NOT_FOUND');
    const badUrl = await request('GET', '/v1/devices/%E0%A4%A');
    assert.equal(badUrl.status, 400);
    assert.equal(code(badUrl), 'LP_API_BAD_REQUEST');
    const tooLarge = await request('POST', '/v1/push', JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }));
    assert.equal(tooLarge.status, 413);
    assert.equal(code(tooLarge), 'LP_API_BODY_TOO_LARGE');
    const badHttp = await raw('GET /v1/devices HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    assert.equal(badHttp.status, 400);
    assert.equal(badHttp.body.error.code, 'LP_API_BAD_REQUEST');
    const hugeHeaders = await raw(
      `GET /v1/devices HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`,
    );
    assert.equal(hugeHeaders.status, 431);
    assert.equal(hugeHeaders.body.error.code, 'LP_API_HEADERS_TOO_LARGE');
  });

  it('answers 415 for a body that is not application/json in UTF-8', async () => {
    const body = JSON.stringify({ to: 'plain', kind: 'alert', payload: 1 });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
    ]) {
      const answer = await request('POST', '/v1/push', body, { 'content-type': type });
      assert.equal(answer.status, 415, type);
      assert.equal(code(answer), 'LP_API_UNSUPPORTED_MEDIA_TYPE', type);
    }
    const utf8 = await request('POST', '/v1/push', body, {
      'content-type': 'application/json; charset=UTF-8',
    });
    assert.equal(utf8.status, 200, utf8.text);
  });

  it('refuses invalid UTF-8 in a body with 400 instead of turning it into U+FFFD', async () => {
    const head = Buffer.from('{"to":"plain","kind":"alert","payload":"');
    const body = Buffer.concat([head, Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const answer = await request('POST', '/v1/push', body);
    assert.equal(answer.status, 400, answer.text);
    assert.equal(code(answer), 'LP_API_BAD_JSON');
    assert.match((answer.json as ErrorBody).error.message, /UTF-8/);
    const listed = await request('GET', '/v1/devices/plain/messages?limit=500');
    const before = (listed.json as { messages: unknown[] }).messages.length;
    assert.equal((await request('POST', '/v1/push', body)).status, 400);
    const after = await request('GET', '/v1/devices/plain/messages?limit=500');
    assert.equal((after.json as { messages: unknown[] }).messages.length, before, 'nothing was stored');
  });

  it(`refuses a body nested more than ${MAX_JSON_DEPTH} deep with 400 LP_API_NESTING_TOO_DEEP, not 500`, async () => {
    const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    // The body itself is level 1, so a payload may nest MAX_JSON_DEPTH - 1 deep.
    const ok = await request(
      'POST',
      '/v1/push',
      `{"to":"plain","kind":"alert","payload":${nest(MAX_JSON_DEPTH - 1)}}`,
    );
    assert.equal(ok.status, 200, ok.text);
    for (const depth of [MAX_JSON_DEPTH, 4_113, 100_000]) {
      const deep = await request(
        'POST',
        '/v1/push',
        `{"to":"plain","kind":"alert","payload":${nest(depth)}}`,
      );
      assert.equal(deep.status, 400, `${depth}: ${deep.text.slice(0, 200)}`);
      assert.equal(code(deep), 'LP_API_NESTING_TOO_DEEP');
    }
    // Brackets inside strings are text, not nesting.
    const text = await send('POST', '/v1/push', { to: 'plain', kind: 'alert', payload: '['.repeat(5000) });
    assert.equal(text.status, 200, text.text);
  });

  it('carries __proto__ and constructor keys in a payload as data, and names them where fields are fixed', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: server.addresses.tls.port,
      rejectUnauthorized: false,
    });
    await once(socket, 'secureConnect');
    const peer = new RawPeer(socket);
    await peer.hello('proto', credential['proto'] ?? '');
    const payload = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":1}';
    const pushed = await request('POST', '/v1/push', `{"to":"proto","kind":"message","payload":${payload}}`);
    assert.equal(pushed.status, 200, pushed.text);
    const push = await peer.next('push');
    assert.equal(JSON.stringify(push.payload), payload);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    socket.destroy();

    const envelope = await request(
      'POST',
      '/v1/push',
      '{"to":"plain","kind":"alert","payload":1,"__proto__":{}}',
    );
    assert.equal(envelope.status, 400);
    assert.equal(code(envelope), 'LP_API_BAD_REQUEST');
    assert.deepEqual(
      (envelope.json as ErrorBody).error.details?.map((d) => d.field),
      ['body.__proto__'],
    );
  });
});
