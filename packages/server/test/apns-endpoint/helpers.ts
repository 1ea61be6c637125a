// Fixtures for the APNs endpoint tests: a server with the endpoint on port 0, devices enrolled through the
// HTTP API with an APNs token, a DeviceClient connected to it, and raw HTTP/2 / HTTP/1.1 requests.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as http2Connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceClient } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import type { ServerConfig } from '../../src/config.js';
import type { ApnsSender } from '../../src/apns/router.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { TestKey } from '../apns/helpers.js';

export const TOPIC = 'com.example.app';

/** A started server plus its temporary data directory. */
export interface Harness {
  server: RunningServer;
  dir: string;
  close(): Promise<void>;
}

/** Start a server with the APNs endpoint (TLS + h2c) accepting `key`'s provider tokens. */
export async function startHarness(
  key: TestKey,
  options: { sender?: ApnsSender; config?: Partial<ServerConfig> } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'lp-apns-endpoint-'));
  const keyPath = join(dir, `AuthKey_${key.keyId}.pub.pem`);
  await writeFile(keyPath, key.publicPem);
  const server = await startServer(
    {
      dataDir: dir,
      host: '127.0.0.1',
      tlsPort: 0,
      wsPort: null,
      apiPort: 0,
      store: 'memory',
      logLevel: 'silent',
      apnsPort: 0,
      apnsH2cPort: 0,
      apnsAckTimeoutMs: 400,
      apnsKeys: [{ teamId: key.teamId, keyId: key.keyId, path: keyPath }],
      ...options.config,
    },
    options.sender !== undefined ? { apnsSender: options.sender } : {},
  );
  return {
    server,
    dir,
    async close() {
      await server.close({ drainTimeoutMs: 500 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Enrol a device and register its APNs token through the HTTP API. Returns the device credential. */
export async function enrol(
  server: RunningServer,
  id: string,
  token: string,
  topic = TOPIC,
): Promise<string> {
  const auth = { authorization: `Bearer ${server.providerKey}` };
  const added = await server.api.inject({
    method: 'POST',
    url: '/v1/devices',
    headers: auth,
    payload: { id },
  });
  assert.equal(added.statusCode, 201, added.body);
  const registered = await server.api.inject({
    method: 'PUT',
    url: `/v1/devices/${id}/apns-token`,
    headers: auth,
    payload: { token, topic, environment: 'development' },
  });
  assert.equal(registered.statusCode, 200, registered.body);
  return added.json<{ credential: string }>().credential;
}

/** A DeviceClient connected to the server; `onPush` defaults to recording. */
export async function connectDevice(
  server: RunningServer,
  id: string,
  credential: string,
  onPush?: (push: Push) => void | Promise<void>,
): Promise<{ client: DeviceClient; received: Push[] }> {
  const received: Push[] = [];
  const client = new DeviceClient({
    url: `tls://127.0.0.1:${server.addresses.tls.port}`,
    deviceId: id,
    credential,
    pin: server.identity.spkiPin,
    onPush: async (push) => {
      received.push(push);
      await onPush?.(push);
    },
  });
  client.start();
  await waitUntil(() => client.state === 'connected' && server.engine.isOnline(id));
  return { client, received };
}

/** An answer as the provider sees it. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** POST over HTTP/2 (TLS when `ca` is given, else h2c with prior knowledge). */
export function postH2(
  origin: string,
  path: string,
  headers: OutgoingHttpHeaders,
  body: Uint8Array,
  ca?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(origin, ca !== undefined ? { ca } : {});
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, ...headers });
    let status = 0;
    let answerHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answerHeaders = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: answerHeaders, body: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

/** POST over HTTP/1.1 with TLS (the endpoint's ALPN fallback). */
export function postH1(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
  ca: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers, ca, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls a condition that has no event of its own, with a bound. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
