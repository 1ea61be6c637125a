/**
 * A WebSocket message that `ws` itself rejects — over the frame limit, text that is not UTF-8, broken
 * framing — still gets the coded `error` frame every transport sends before it closes [LP-9.1], and then
 * the close code of RFC 6455 (1009, 1007, 1002). Issue 11, item 7. The real server over loopback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeServerMessage, type ServerMessage } from '@localpush/protocol';
import { WebSocket } from 'ws';
import { startServer, type RunningServer } from '../../src/server.js';
import { addDevice } from '../helpers/e2e.js';

const MAX_FRAME = 1024;
let server: RunningServer;
let dir: string;
let credential: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-ws-errors-'));
  server = await startServer({
    dataDir: dir,
    host: '127.0.0.1',
    apiPort: 0,
    tlsPort: 0,
    wsPort: 0,
    wsTls: false,
    store: 'memory',
    logLevel: 'silent',
    maxFrameBytes: MAX_FRAME,
  });
  ({ credential } = await addDevice(server, 'browser'));
});
after(async () => {
  await server.close({ drainTimeoutMs: 100 });
  await rm(dir, { recursive: true, force: true });
});

/** Opens a WebSocket (welcomed when `hello`), records what the server sends and how it closes. */
async function open(hello: boolean): Promise<{
  ws: WebSocket;
  received: ServerMessage[];
  closed: Promise<{ code: number; reason: string }>;
}> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.addresses.ws?.port ?? 0}/v1/connect`);
  const received: ServerMessage[] = [];
  ws.on('message', (data: Buffer) => received.push(decodeServerMessage(new Uint8Array(data))));
  ws.on('error', () => {});
  const closed = once(ws, 'close').then(([code, reason]: unknown[]) => ({
    code: code as number,
    reason: String(reason),
  }));
  await once(ws, 'open');
  if (hello) {
    const welcomed = new Promise<void>((resolve) =>
      ws.on('message', () => {
        if (received.some((m) => m.type === 'welcome')) resolve();
      }),
    );
    ws.send(JSON.stringify({ type: 'hello', version: 1, deviceId: 'browser', credential, capabilities: [] }));
    await welcomed;
  }
  return { ws, received, closed };
}

const errorsOf = (received: ServerMessage[]): string[] =>
  received.flatMap((m) => (m.type === 'error' ? [m.code] : []));

describe('WebSocket messages that ws rejects get a coded error frame first [LP-9.1]', () => {
  for (const hello of [false, true]) {
    const when = hello ? 'after the welcome' : 'before the hello';
    it(`over the limit, ${when}: LP_FRAME_TOO_LARGE, then 1009`, async () => {
      const { ws, received, closed } = await open(hello);
      ws.send('x'.repeat(MAX_FRAME * 2));
      const { code, reason } = await closed;
      assert.equal(code, 1009);
      assert.equal(reason, 'LP_FRAME_TOO_LARGE');
      assert.deepEqual(errorsOf(received), ['LP_FRAME_TOO_LARGE']);
    });

    it(`invalid UTF-8 in a text message, ${when}: LP_FRAME_MALFORMED, then 1007`, async () => {
      const { ws, received, closed } = await open(hello);
      // A Buffer sent with binary: false goes out as a text frame, unchecked.
      ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      const { code } = await closed;
      assert.equal(code, 1007);
      assert.deepEqual(errorsOf(received), ['LP_FRAME_MALFORMED']);
    });
  }
});
