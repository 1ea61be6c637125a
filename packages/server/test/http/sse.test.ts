/**
 * The receipt feed over a real listening server (app.inject cannot stream): events, the device filter,
 * heartbeats on the injected clock, and clean-up when the client goes or the server closes.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import type { FastifyReply } from 'fastify';
import type { HttpEngine } from '../../src/http/api.js';
import { ReceiptStreams } from '../../src/http/sse.js';
import type { Receipt } from '../../src/store/types.js';
import { AUTH, setupApi } from './helpers.js';

/** An engine wrapper that counts receipt listeners and reports each unsubscribe. */
function countingEngine() {
  let active = 0;
  const changes = new Set<() => void>();
  const wrap = (engine: HttpEngine): HttpEngine => ({
    submit: (r) => engine.submit(r),
    submitAndWait: (r, ms) => engine.submitAndWait(r, ms),
    status: (id) => engine.status(id),
    listMessages: (id, o) => engine.listMessages(id, o),
    onReceipt: (listener) => {
      active++;
      for (const c of [...changes]) c();
      const off = engine.onReceipt(listener);
      return () => {
        off();
        active--;
        for (const c of [...changes]) c();
      };
    },
  });
  const until = (count: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (active !== count) return;
        changes.delete(check);
        resolve();
      };
      changes.add(check);
      check();
    });
  return {
    wrap,
    until,
    get active() {
      return active;
    },
  };
}

/** Reads an SSE response, collecting its text and letting the test wait for a fragment. */
class StreamReader {
  text = '';
  private readonly waiters = new Set<() => void>();

  constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.text += chunk;
      for (const w of [...this.waiters]) w();
    });
  }

  /** Resolves once the text contains `fragment` `times` times. */
  waitFor(fragment: string, times = 1): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.text.split(fragment).length - 1 < times) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The parsed `data:` of every `receipt` event so far. */
  get events(): { id: string; device: string; event: string; at: number; detail: string | null }[] {
    return this.text
      .split('\n\n')
      .filter((block) => block.startsWith('event: receipt\n'))
      .map((block) => JSON.parse(block.split('\n')[1]?.slice('data: '.length) ?? 'null') as never);
  }
}

function open(port: number, path: string, headers: Record<string, string> = AUTH): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

async function listening(setup: Parameters<typeof setupApi>[0] = {}) {
  const counter = countingEngine();
  const t = await setupApi({ ...setup, wrapEngine: counter.wrap });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (t.app.server.address() as AddressInfo).port;
  return { ...t, port, counter };
}

test('streams receipts as they happen, with heartbeats on the injected clock', async () => {
  const t = await listening();
  const response = await open(t.port, '/v1/receipts/stream');
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers['content-type']), /^text\/event-stream/);
  const reader = new StreamReader(response);
  await reader.waitFor(': connected');

  const session = await t.connect('d1');
  await t.request('POST', '/v1/push', { to: 'd1', id: 'm1', kind: 'alert', payload: 1 });
  session.ackAll(t.engine);
  await reader.waitFor('event: receipt', 3);
  assert.deepEqual(
    reader.events.map((e) => [e.id, e.device, e.event]),
    [
      ['m1', 'd1', 'accepted'],
      ['m1', 'd1', 'sent'],
      ['m1', 'd1', 'acked'],
    ],
  );
  assert.equal(reader.events[0]?.at, t.clock.now());

  t.clock.advance(15_000);
  await reader.waitFor(': heartbeat');
  t.clock.advance(15_000);
  await reader.waitFor(': heartbeat', 2);

  response.destroy();
  await t.counter.until(0);
  await t.close();
});

test('?device= filters the feed to one device', async () => {
  const t = await listening();
  const reader = new StreamReader(await open(t.port, '/v1/receipts/stream?device=d2'));
  await reader.waitFor(': connected');
  await t.request('POST', '/v1/push', { to: 'd1', id: 'for-d1', kind: 'alert', payload: 1 });
  await t.request('POST', '/v1/push', { to: 'd2', id: 'for-d2', kind: 'alert', payload: 1 });
  await reader.waitFor('event: receipt');
  assert.deepEqual(
    reader.events.map((e) => e.id),
    ['for-d2'],
  );
  const bad = await open(t.port, '/v1/receipts/stream?device=not%20valid');
  assert.equal(bad.statusCode, 400);
  bad.resume();
  await t.close();
  assert.equal(t.counter.active, 0);
});

test('needs the provider key', async () => {
  const t = await listening();
  const response = await open(t.port, '/v1/receipts/stream', {});
  assert.equal(response.statusCode, 401);
  response.resume();
  assert.equal(t.counter.active, 0);
  await t.close();
});

test('closing the server ends open streams and removes their listeners', async () => {
  const t = await listening();
  const response = await open(t.port, '/v1/receipts/stream');
  const reader = new StreamReader(response);
  await reader.waitFor(': connected');
  assert.equal(t.counter.active, 1);
  const ended = new Promise<void>((resolve) => response.once('end', resolve));
  await t.close();
  await ended;
  assert.equal(t.counter.active, 0);
  assert.equal(t.clock.pending, 0, 'no heartbeat timer left behind');
});

test('?events= keeps only the named receipt events', async () => {
  const t = await listening();
  const reader = new StreamReader(await open(t.port, '/v1/receipts/stream?events=accepted,acked'));
  await reader.waitFor(': connected');
  const session = await t.connect('d1');
  await t.request('POST', '/v1/push', { to: 'd1', id: 'm1', kind: 'alert', payload: 1 });
  session.ackAll(t.engine);
  await reader.waitFor('event: receipt', 2);
  assert.deepEqual(
    reader.events.map((e) => [e.id, e.event]),
    [
      ['m1', 'accepted'],
      ['m1', 'acked'],
    ],
  );
  for (const query of ['events=', 'events=acked,', 'events=delivered', 'events=acked,,sent']) {
    const bad = await open(t.port, `/v1/receipts/stream?${query}`);
    assert.equal(bad.statusCode, 400, query);
    bad.resume();
  }
  await t.close();
  assert.equal(t.counter.active, 0);
});

/** A stand-in response whose unread byte count the test controls. */
class FakeResponse extends EventEmitter {
  writableLength = 0;
  writableEnded = false;
  chunks: string[] = [];
  writeHead(): void {}
  flushHeaders(): void {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
}

/** A feed served to a FakeResponse, with the receipt listeners it registered. */
function fakeFeed(maxBufferedBytes: number) {
  const listeners = new Set<(r: Receipt) => void>();
  const clock = new ManualClock();
  const streams = new ReceiptStreams({
    engine: {
      onReceipt: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    },
    clock,
    heartbeatMs: 15_000,
    maxBufferedBytes,
  });
  const raw = new FakeResponse();
  streams.serve({ hijack() {}, raw } as unknown as FastifyReply, undefined);
  const publish = (receipt: Receipt): void => {
    for (const l of listeners) l(receipt);
  };
  return { listeners, clock, streams, raw, publish };
}

/** The end of the current turn of the event loop, when the feed writes what the turn produced. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('the receipts of one turn of the event loop go out in one write', async () => {
  const { raw, publish, streams } = fakeFeed(1_000_000);
  for (const event of ['accepted', 'sent', 'acked'] as const) {
    publish({ messageId: 'm', deviceId: 'd1', event, at: 1, detail: null });
  }
  assert.equal(raw.chunks.length, 1, 'only ": connected" before the turn ends');
  await nextTurn();
  assert.equal(raw.chunks.length, 2);
  assert.equal(raw.chunks[1]?.split('event: receipt\n').length, 4, 'three events in the one chunk');
  streams.closeAll();
});

test('a client that stops reading is dropped', async () => {
  // A stand-in response: the kernel's socket buffers make this hard to reach over a real socket.
  const { listeners, clock, streams, raw, publish } = fakeFeed(1000);
  const receipt: Receipt = { messageId: 'm', deviceId: 'd1', event: 'accepted', at: 1, detail: null };
  publish(receipt);
  await nextTurn();
  assert.equal(raw.chunks.length, 2);
  raw.writableLength = 1001;
  publish(receipt);
  await nextTurn();
  assert.equal(raw.chunks.length, 2, 'nothing more is written');
  assert.equal(raw.writableEnded, true);
  assert.equal(listeners.size, 0);
  assert.equal(streams.size, 0);
  assert.equal(clock.pending, 0);
});
