/**
 * Shared pieces of the end-to-end tests: device enrolment through the HTTP API and event-driven waits on a
 * DeviceClient. (CLI commands run in-process live in packages/cli/test/helpers/run.ts.)
 */
import assert from 'node:assert/strict';
import type { ClientState, DeviceClient } from '@localpush/client';
import type { RunningServer } from '../../src/server.js';

export async function addDevice(server: RunningServer, id: string): Promise<{ credential: string }> {
  const response = await server.api.inject({
    method: 'POST',
    url: '/v1/devices',
    headers: { authorization: `Bearer ${server.providerKey}` },
    payload: { id },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json<{ credential: string }>();
}

export function waitForState(client: DeviceClient, state: ClientState): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const onState = (next: ClientState): void => {
      if (next === state) {
        client.off('state', onState);
        resolve();
      }
    };
    client.on('state', onState);
  });
}

/** Polls a condition that has no event of its own (a store row, a registry entry), with a bound. */
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
