/**
 * The TypeScript SimplePush client's own behaviour (heartbeat watchdogs, reconnects, pinning) and the
 * TLS listener helpers, against the real gateway on loopback with a manual clock.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { SimplePushErrorCode } from '../../src/simplepush/codec.js';
import { listenSimplePush, spkiPinBase64 } from '../../src/simplepush/listen.js';
import { SimplePushTestClient, connectSimplePush } from '../../src/testing.js';
import { startHarness, testIdentity, user } from './helpers.js';

describe('heartbeat watchdog', () => {
  for (const [role, timeoutMs] of [
    ['extension', 30_000],
    ['app', 20_000],
  ] as const) {
    it(`${role}: reconnects when no heartbeat arrives within ${timeoutMs / 1000} s`, async (t) => {
      // Heartbeats far apart, so the client's watchdog fires first.
      const h = await startHarness({ heartbeatIntervalMs: 3_600_000 });
      t.after(() => h.close());
      const alice = user('Alice');
      const client = await h.client(role, alice);
      const reasons: string[] = [];
      client.on('disconnected', (reason) => reasons.push(reason));
      await h.advance(timeoutMs - 1);
      assert.equal(client.connections, 1);
      assert.deepEqual(reasons, []);
      await h.advance(1);
      assert.deepEqual(reasons, ['heartbeat-timeout']);
      await client.until(() => client.registered);
      assert.equal(client.connections, 2);
      const channel = role === 'app' ? 'control' : 'notification';
      // Two opens: the first connection and the reconnection; the first one closed.
      await h.log.until(new RegExp(`^close Alice ${channel} `));
      assert.equal(h.log.lines.filter((l) => l === `open Alice ${channel}`).length, 2);
    });
  }

  it('stays connected while heartbeats keep arriving', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const ext = await h.client('extension', user('Alice'));
    for (let i = 1; i <= 6; i++) {
      await h.advance(10_000);
      assert.equal((await ext.take('heartbeat')).count, i);
    }
    assert.equal(ext.connections, 1);
  });
});

describe('reconnecting', () => {
  it('retries a connection that cannot be made after 5 s', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    let attempts = 0;
    const failures: string[] = [];
    const client = new SimplePushTestClient({
      role: 'extension',
      user: user('Alice'),
      clock: h.clock,
      connect: () => {
        attempts += 1;
        if (attempts === 1) return Promise.reject(new Error('ECONNREFUSED'));
        return connectSimplePush({
          host: '127.0.0.1',
          port: h.listener.notification.port,
          pin: h.identity.pin,
        });
      },
    });
    t.after(() => client.close());
    client.on('connectFailed', (error) => failures.push(error.message));
    client.start();
    await client.until(() => failures.length === 1);
    h.clock.advance(4_999);
    assert.equal(attempts, 1);
    h.clock.advance(1);
    assert.equal(attempts, 2);
    await client.until(() => client.registered);
    assert.deepEqual(failures, ['ECONNREFUSED']);
  });

  it('reconnects at once when the server drops the connection', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const alice = user('Alice');
    const ext = await h.client('extension', alice);
    const app = await h.client('app', user('Bob'));
    // A protocol error makes the gateway close the extension's connection; the client comes straight back.
    await ext.send({ type: 'user', user: user('Eve') });
    await h.log.until(`error notification Alice ${SimplePushErrorCode.USER_CHANGED}`);
    await ext.until(() => ext.connections === 2 && ext.registered);
    await app.untilDirectory((users) => users.some((u) => u.uuid === alice.uuid));
  });

  it('stays closed after close()', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const ext = await h.client('extension', user('Alice'));
    ext.close();
    await h.log.until(/^close Alice notification/);
    await h.advance(60_000);
    assert.equal(ext.connections, 1);
    assert.equal(ext.registered, false);
  });
});

describe('TLS identity', () => {
  it('spkiPinBase64 is the base64 SHA-256 of the SubjectPublicKeyInfo DER', async () => {
    const id = await testIdentity();
    const spki = createPublicKey(id.key).export({ type: 'spki', format: 'der' });
    assert.equal(spkiPinBase64(id.cert), createHash('sha256').update(spki).digest('base64'));
    assert.match(spkiPinBase64(id.cert), /^[A-Za-z0-9+/]{43}=$/);
  });

  it('connects with the right pin and refuses a wrong one', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const port = h.listener.control.port;
    const socket = await connectSimplePush({ host: '127.0.0.1', port, pin: h.identity.pin });
    socket.destroy();
    const wrong = Buffer.alloc(32, 1).toString('base64');
    await assert.rejects(connectSimplePush({ host: '127.0.0.1', port, pin: wrong }), /does not match/);
  });

  it('reports a port in use and closes both listeners', async () => {
    const id = await testIdentity();
    const tlsOptions = { key: id.key, cert: id.cert };
    const first = await listenSimplePush({
      tls: tlsOptions,
      host: '127.0.0.1',
      controlPort: 0,
      notificationPort: 0,
    });
    await assert.rejects(
      listenSimplePush({
        tls: tlsOptions,
        host: '127.0.0.1',
        controlPort: 0,
        notificationPort: first.notification.port,
      }),
      /EADDRINUSE/,
    );
    await first.close();
    first.gateway.close();
  });
});
