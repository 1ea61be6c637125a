/**
 * The transport adapters: streamLink over an in-memory socket pair, webSocketLink over a fake WebSocket.
 * Everything is awaited on events, never on sleeps.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ProtocolErrorCode, encodeMessage, frame, type ProtocolError } from '../src/index.js';
import { WS_CLOSE, streamLink, webSocketLink, type LinkHandlers, type WebSocketLike } from '../src/link.js';
import { duplexPair } from './duplex-pair.js';

/** Records what a link reports and lets a test await a condition on it. */
class Recorder implements LinkHandlers {
  readonly frames: string[] = [];
  readonly errors: ProtocolError[] = [];
  readonly closes: (Error | undefined)[] = [];
  private readonly waiters = new Set<() => void>();
  /** Called for each frame before it is recorded; lets a test act from inside the handler. */
  onFrame: ((text: string) => void) | undefined;

  frame(payload: Uint8Array): void {
    const text = Buffer.from(payload).toString('utf8');
    this.frames.push(text);
    this.onFrame?.(text);
    this.wake();
  }
  protocolError(error: ProtocolError): void {
    this.errors.push(error);
    this.wake();
  }
  close(error?: Error): void {
    this.closes.push(error);
    this.wake();
  }

  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!condition()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function streamPair(maxFrameBytes?: number) {
  const [a, b] = duplexPair();
  const options = maxFrameBytes === undefined ? {} : { maxFrameBytes };
  const left = streamLink(a, options);
  const right = streamLink(b, options);
  const l = new Recorder();
  const r = new Recorder();
  left.start(l);
  right.start(r);
  return { a, b, left, right, l, r };
}

describe('streamLink [LP-2.1]', () => {
  it('carries frames both ways, in order, unicode included', async () => {
    const { left, right, l, r } = streamPair();
    left.send(bytes('{"n":1}'));
    left.send(bytes('{"n":"Grüße 🚑"}'));
    right.send(bytes('{"back":true}'));
    await r.until(() => r.frames.length === 2);
    await l.until(() => l.frames.length === 1);
    assert.deepEqual(r.frames, ['{"n":1}', '{"n":"Grüße 🚑"}']);
    assert.deepEqual(l.frames, ['{"back":true}']);
    assert.deepEqual([l.errors, r.errors], [[], []]);
  });

  it('reassembles frames the transport splits and coalesces', async () => {
    const { b, l } = streamPair();
    const wire = Buffer.concat([frame(bytes('{"a":1}')), frame(bytes('{"b":2}')), frame(bytes('{"c":3}'))]);
    // Cut inside the first header, inside a body, and exactly on a frame boundary.
    for (const [from, to] of [
      [0, 2],
      [2, 8],
      [8, 22],
      [22, wire.length],
    ] as const) {
      b.write(wire.subarray(from, to));
    }
    await l.until(() => l.frames.length === 3);
    assert.deepEqual(l.frames, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('reports an oversize frame from its header and delivers nothing more', async () => {
    const { b, l } = streamPair(256);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(257);
    b.write(header);
    await l.until(() => l.errors.length === 1);
    assert.equal(l.errors[0]?.code, ProtocolErrorCode.FRAME_TOO_LARGE);
    b.write(frame(bytes('{"after":1}')));
    b.end();
    await l.until(() => l.closes.length === 1);
    assert.deepEqual(l.frames, []);
    assert.equal(l.errors.length, 1, 'one report, even though the stream also ended mid-frame');
  });

  it('delivers the good frames ahead of a bad header in the same chunk, then reports it [LP-2.4]', async () => {
    const { b, l } = streamPair();
    b.write(Buffer.concat([frame(bytes('{"ok":1}')), Buffer.from('00000000', 'hex')]));
    await l.until(() => l.errors.length === 1);
    assert.deepEqual(l.frames, ['{"ok":1}']);
    assert.equal(l.errors[0]?.code, ProtocolErrorCode.FRAME_MALFORMED);
  });

  it('reports a frame truncated by the end of the stream, then closes once [LP-2.5]', async () => {
    const { b, l } = streamPair();
    b.end(frame(bytes('{"cut":"here"}')).subarray(0, 9));
    await l.until(() => l.closes.length === 1);
    assert.equal(l.errors.length, 1);
    assert.equal(l.errors[0]?.code, ProtocolErrorCode.FRAME_TRUNCATED);
    assert.deepEqual(l.closes, [undefined]);
  });

  it('closes cleanly once when the peer ends on a frame boundary', async () => {
    const { right, l, r } = streamPair();
    right.send(bytes('{"bye":1}'));
    right.end();
    await l.until(() => l.closes.length === 1);
    await r.until(() => r.closes.length === 1);
    assert.deepEqual(l.frames, ['{"bye":1}'], 'end() flushes what was queued');
    assert.deepEqual([l.errors, l.closes, r.closes], [[], [undefined], [undefined]]);
  });

  it('calls close exactly once however often the owner ends and destroys', async () => {
    const { a, left, l } = streamPair();
    left.end();
    left.destroy();
    left.destroy();
    await once(a, 'close');
    await l.until(() => l.closes.length > 0);
    left.send(bytes('{"late":1}')); // ignored, not thrown
    left.end();
    assert.equal(l.closes.length, 1);
  });

  it('reports the transport error that closed it', async () => {
    const { a, l } = streamPair();
    const boom = new Error('ECONNRESET');
    a.destroy(boom);
    await l.until(() => l.closes.length === 1);
    assert.equal(l.closes[0], boom);
  });

  it('stops delivering frames already read once its owner destroys it', async () => {
    const { b, left, l } = streamPair();
    l.onFrame = () => left.destroy();
    b.write(Buffer.concat([frame(bytes('{"n":1}')), frame(bytes('{"n":2}'))]));
    await l.until(() => l.closes.length === 1);
    assert.deepEqual(l.frames, ['{"n":1}']);
  });

  it('shows unread bytes in bufferedBytes, so a server can spot a slow consumer [LP-7.2]', async () => {
    const { a, b, left } = streamPair();
    b.pause();
    const payload = bytes(`{"p":"${'x'.repeat(1000)}"}`);
    for (let i = 0; i < 20; i += 1) left.send(payload);
    assert.ok(left.bufferedBytes > 10_000, `bufferedBytes = ${left.bufferedBytes}`);
    b.resume();
    await once(a, 'drain');
    assert.equal(left.bufferedBytes, 0);
  });

  it('passes the remote address through', () => {
    const [a] = duplexPair();
    const socketLike = Object.assign(a, { remoteAddress: '10.0.0.7' });
    assert.equal(streamLink(socketLike).remoteAddress, '10.0.0.7');
    assert.equal(streamLink(duplexPair()[0]).remoteAddress, undefined);
  });
});

type Listener = (event: never) => void;

/** Just enough of a WebSocket to drive the link: events are delivered by calling `emit`. */
class FakeWebSocket implements WebSocketLike {
  readonly sent: (Uint8Array | string)[] = [];
  readonly closeCalls: (number | undefined)[] = [];
  readyState = 1;
  bufferedAmount = 0;
  binaryType: string | undefined;
  private readonly listeners = new Map<string, Listener[]>();

  addEventListener(type: 'message' | 'close' | 'error', listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(type: 'message' | 'close' | 'error', event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) (listener as (event: unknown) => void)(event);
  }
  send(data: Uint8Array | string): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closeCalls.push(code);
  }
}

function wsLink(options: Parameters<typeof webSocketLink>[1] = {}) {
  const socket = new FakeWebSocket();
  const link = webSocketLink(socket, options);
  const rec = new Recorder();
  link.start(rec);
  return { socket, link, rec };
}

describe('webSocketLink [LP-2.6]', () => {
  it('switches a WHATWG socket from Blob to ArrayBuffer delivery, so binary frames stay in order', () => {
    const socket = new FakeWebSocket();
    socket.binaryType = 'blob';
    webSocketLink(socket).start(new Recorder());
    assert.equal(socket.binaryType, 'arraybuffer');
    const nodeStyle = new FakeWebSocket();
    nodeStyle.binaryType = 'nodebuffer';
    webSocketLink(nodeStyle).start(new Recorder());
    assert.equal(nodeStyle.binaryType, 'nodebuffer');
  });

  it('reads one frame per message from text, bytes, Buffer, ArrayBuffer and Buffer[] fragments', () => {
    const { socket, rec } = wsLink();
    const json = '{"type":"heartbeat_ack","seq":1}';
    socket.emit('message', { data: '{"t":"text ✓"}' });
    socket.emit('message', { data: bytes(json) });
    socket.emit('message', { data: Buffer.from('{"t":"buffer"}') });
    const ab = new ArrayBuffer(10);
    new Uint8Array(ab).set(bytes('{"t":"ab"}'));
    socket.emit('message', { data: ab });
    socket.emit('message', { data: [Buffer.from('{"t":'), Buffer.from('"frag'), Buffer.from('ments"}')] });
    assert.deepEqual(rec.frames, [
      '{"t":"text ✓"}',
      json,
      '{"t":"buffer"}',
      '{"t":"ab"}',
      '{"t":"fragments"}',
    ]);
  });

  it('sends each payload as one text message while open, and nothing once closed', () => {
    const { socket, link } = wsLink();
    const payload = encodeMessage({ type: 'heartbeat', seq: 3, serverTime: 5 });
    link.send(payload);
    assert.deepEqual(socket.sent, ['{"type":"heartbeat","seq":3,"serverTime":5}']);
    socket.readyState = 3;
    link.send(payload);
    assert.equal(socket.sent.length, 1);
  });

  it('measures the frame limit in bytes, not characters, and stops reading after a violation', () => {
    const { socket, rec } = wsLink({ maxFrameBytes: 256 });
    socket.emit('message', { data: '€'.repeat(85) }); // 85 characters, 255 bytes
    socket.emit('message', { data: '€'.repeat(86) }); // 258 bytes
    socket.emit('message', { data: '{"after":1}' });
    assert.equal(rec.frames.length, 1);
    assert.equal(rec.errors.length, 1);
    assert.equal(rec.errors[0]?.code, ProtocolErrorCode.FRAME_TOO_LARGE);
    socket.emit('close', { code: WS_CLOSE.protocolError, reason: '' });
    assert.deepEqual(rec.closes, [undefined], 'close is still reported, once');
  });

  it('reports the error that preceded the close', () => {
    const { socket, rec } = wsLink();
    const cause = new Error('socket hang up');
    socket.emit('error', { error: cause });
    socket.emit('error', { error: new Error('second') });
    socket.emit('close', { code: 1006, reason: '' });
    assert.deepEqual(rec.closes, [cause]);
    socket.emit('message', { data: '{"late":1}' });
    assert.deepEqual(rec.frames, [], 'nothing is delivered after close');
  });

  it('ends with a normal close, destroys through terminate when given, and exposes buffered bytes', () => {
    let terminated = 0;
    const { socket, link } = wsLink({ terminate: () => (terminated += 1), remoteAddress: '10.1.2.3' });
    socket.bufferedAmount = 4096;
    assert.equal(link.bufferedBytes, 4096);
    assert.equal(link.remoteAddress, '10.1.2.3');
    link.end();
    assert.deepEqual(socket.closeCalls, [WS_CLOSE.normal]);
    link.destroy();
    assert.equal(terminated, 1);
    const plain = wsLink();
    plain.link.destroy();
    assert.deepEqual(plain.socket.closeCalls, [WS_CLOSE.normal]);
  });
});
