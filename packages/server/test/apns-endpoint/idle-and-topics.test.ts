// The two APNs reasons that depend on the connection and the key rather than the request:
// IdleTimeout (GOAWAY on an idle connection) and TopicDisallowed (a key restricted to some apps).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeKey, signToken } from '../apns/helpers.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { postH2, TOPIC } from './helpers.js';

const key = makeKey();
const restricted = makeKey('TEAM999999', 'KEY9999999');
let dir: string;
let server: RunningServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lp-apns-rules-'));
  const open = join(dir, 'open.pem');
  const limited = join(dir, 'limited.pem');
  await writeFile(open, key.publicPem);
  await writeFile(limited, restricted.publicPem);
  server = await startServer({
    dataDir: dir,
    host: '127.0.0.1',
    tlsPort: 0,
    wsPort: null,
    apiPort: 0,
    store: 'memory',
    logLevel: 'silent',
    apnsPort: 0,
    apnsIdleTimeoutMs: 1_000,
    apnsKeys: [
      { teamId: key.teamId, keyId: key.keyId, path: open },
      // This key may push to one other app only.
      { teamId: restricted.teamId, keyId: restricted.keyId, path: limited, topics: ['com.example.other'] },
    ],
  });
});
after(async () => {
  await server.close({ drainTimeoutMs: 200 });
  await rm(dir, { recursive: true, force: true });
});

async function post(signer: typeof key, topic: string): Promise<{ status: number; reason?: string }> {
  const bearer = `bearer ${await signToken(signer, { iatSec: Math.floor(Date.now() / 1000) })}`;
  const answer = await postH2(
    `https://127.0.0.1:${server.addresses.apns?.port ?? 0}`,
    `/3/device/${'ab'.repeat(32)}`,
    { authorization: bearer, 'apns-topic': topic, 'apns-push-type': 'alert' },
    Buffer.from('{"aps":{"alert":"hi"}}'),
    server.identity.cert,
  );
  const body = answer.body === '' ? {} : (JSON.parse(answer.body) as { reason?: string });
  return { status: answer.status, ...(body.reason === undefined ? {} : { reason: body.reason }) };
}

describe('APNs endpoint: connection and key rules', () => {
  it('refuses a topic the key is not allowed to push to with 400 TopicDisallowed', async () => {
    assert.deepEqual(await post(restricted, TOPIC), { status: 400, reason: 'TopicDisallowed' });
    const allowed = await post(restricted, 'com.example.other');
    assert.notEqual(allowed.reason, 'TopicDisallowed', 'the allowed app passes the topic check');
    const unrestricted = await post(key, TOPIC);
    assert.notEqual(unrestricted.reason, 'TopicDisallowed', 'a key without a list may push to any app');
  });

  it('closes an idle connection with GOAWAY {"reason":"IdleTimeout"}', async () => {
    const session = connect(`https://127.0.0.1:${server.addresses.apns?.port ?? 0}`, {
      ca: server.identity.cert,
    });
    session.on('error', () => undefined);
    const [, , opaque] = (await once(session, 'goaway')) as [number, number, Buffer | undefined];
    assert.deepEqual(JSON.parse(opaque?.toString('utf8') ?? '{}'), { reason: 'IdleTimeout' });
    session.destroy();
  });
});
