/**
 * `--ack-timeout` for real: the server from startServer on port 0 with nothing else turned on (no APNs),
 * a DeviceClient over TLS whose app handler fails the first time. The push is not acknowledged, so the
 * server writes it again on the same connection once the ack timeout passes; the handler then takes it,
 * the device acks, and the message's receipts show both sends. Every wait is on an event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientErrorCode, DeviceClient, type ClientError, type ClientState } from '@localpush/client';
import type { Push } from '@localpush/protocol';
import type { Receipt } from '../../src/store/types.js';
import { addDevice, waitForState } from '../helpers/e2e.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';

test('a push not acknowledged within --ack-timeout is written again on the open connection and shown in its receipts', async (t) => {
  const loopback = await startLoopbackServer('localpush-ack-timeout-', { ackTimeoutMs: 200 });
  t.after(() => loopback.close());
  const { server } = loopback;
  const { credential } = await addDevice(server, 'phone');
  const handled: Push[] = [];
  let failNext = true;
  const client = new DeviceClient({
    url: `tls://127.0.0.1:${server.addresses.tls.port}`,
    deviceId: 'phone',
    credential,
    pin: server.identity.spkiPin,
    onPush: (push) => {
      handled.push(push);
      if (failNext) {
        failNext = false;
        throw new Error('the app could not take it this time');
      }
    },
  });
  t.after(() => client.stop());
  const states: ClientState[] = [];
  const errors: ClientError[] = [];
  client.on('state', (state) => states.push(state));
  client.on('connectionError', (error) => errors.push(error));
  client.start();
  await waitForState(client, 'connected');
  const connectedStates = states.length;

  const acked = new Promise<void>((resolve) => {
    const off = server.engine.onReceipt((receipt: Receipt) => {
      if (receipt.messageId === 'retry-me' && receipt.event === 'acked') {
        off();
        resolve();
      }
    });
  });
  const sent = await loopback.call<{ status: string }>('POST', '/v1/push', {
    to: 'phone',
    id: 'retry-me',
    kind: 'message',
    payload: { n: 1 },
  });
  assert.ok(sent.status < 300, JSON.stringify(sent.body));
  await acked;

  assert.deepEqual(
    handled.map((p) => [p.id, p.seq]),
    [
      ['retry-me', 1],
      ['retry-me', 1],
    ],
    'the handler saw the push twice: the failed run and the redelivery',
  );
  assert.deepEqual(
    errors.map((e) => e.code),
    [ClientErrorCode.PUSH_HANDLER_FAILED],
  );
  assert.deepEqual(states.slice(connectedStates), [], 'the redelivery came on the same connection');
  const status = await loopback.call<{ receipts: Receipt[] }>('GET', '/v1/messages/retry-me');
  assert.deepEqual(
    status.body.receipts.map((r) => r.event),
    ['accepted', 'sent', 'sent', 'acked'],
  );
  await client.stop();
});
