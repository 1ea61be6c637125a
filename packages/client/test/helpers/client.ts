/** Builds DeviceClients for tests: a ManualClock (no timer fires unless the test advances it) and fixed jitter. */
import type { TestContext } from 'node:test';
import { ManualClock } from '@localpush/protocol';
import { DeviceClient, type ClientError, type DeviceClientOptions } from '../../src/index.js';

/** A client plus the clock driving it and every connectionError it reported. */
export interface TestClient {
  client: DeviceClient;
  clock: ManualClock;
  errors: ClientError[];
}

/**
 * A client for `url` (or the endpoints, given a list) with random() = 0.5, so back-off delays are exactly half their window
 * (250, 500, 1000 … ms with the defaults). Stopped after the test.
 */
export function makeClient(
  t: TestContext,
  url: string | readonly string[],
  options: Partial<DeviceClientOptions> = {},
): TestClient {
  const clock = new ManualClock();
  const client = new DeviceClient({
    ...(typeof url === 'string' ? { url } : { urls: url }),
    deviceId: 'device-1',
    credential: 'secret-1',
    clock,
    random: () => 0.5,
    ...options,
  });
  const errors: ClientError[] = [];
  client.on('connectionError', (error) => errors.push(error));
  t.after(() => client.stop());
  return { client, clock, errors };
}
