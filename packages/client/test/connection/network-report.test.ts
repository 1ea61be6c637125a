/** The DeviceClient's side of protocol section 10: the network report in the hello, and probe replies. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { HelloNetwork } from '@localpush/protocol';
import { FakeServer, welcome } from '../helpers/fake-server.js';
import { makeClient } from '../helpers/client.js';
import { waitForState } from '../helpers/wait.js';

async function tcpServer(t: TestContext): Promise<FakeServer> {
  const server = await FakeServer.start('tcp');
  t.after(() => server.close());
  return server;
}

test('no network report unless the application asks for one [LP-10.4]', async (t) => {
  const server = await tcpServer(t);
  const { client } = makeClient(t, server.url);
  client.start();
  const hello = await (await server.next()).expect('hello');
  assert.equal('network' in hello, false);
});

test('reportNetwork is asked before every hello, and may have nothing to say', async (t) => {
  const server = await tcpServer(t);
  const reports: (HelloNetwork | undefined)[] = [
    { ssid: 'Ward 7', bssid: 'aa:bb:cc:dd:ee:ff', signalDbm: -64 },
    undefined,
  ];
  const { client, clock } = makeClient(t, server.url, { reportNetwork: () => reports.shift() });
  client.start();
  const first = await server.next();
  assert.deepEqual((await first.expect('hello')).network, {
    ssid: 'Ward 7',
    bssid: 'aa:bb:cc:dd:ee:ff',
    signalDbm: -64,
  });
  first.send(welcome());
  await waitForState(client, 'connected');
  first.destroy();
  await waitForState(client, 'backoff');
  clock.advance(30_000);
  const second = await server.next();
  assert.equal('network' in (await second.expect('hello')), false);
});

test('a probe reply the client never asked for is ignored [LP-10.2]', async (t) => {
  const server = await tcpServer(t);
  const { client, errors } = makeClient(t, server.url);
  client.start();
  const conn = await server.next();
  await conn.expect('hello');
  conn.send(
    welcome(),
    { type: 'probe_reply', id: 'x', serverTime: 1 },
    { type: 'heartbeat', seq: 1, serverTime: 2 },
  );
  assert.equal((await conn.expect('heartbeat_ack')).seq, 1);
  assert.equal(client.state, 'connected');
  assert.deepEqual(errors, []);
});
