/** Shared set-up for the HTTP API tests: the real engine and memory store behind app.inject(). */
import { ManualClock } from '@localpush/protocol';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createDeviceDirectory } from '../../src/engine/devices.js';
import { createDeliveryEngine, type DeliveryEngineOptions } from '../../src/engine/engine.js';
import { buildHttpApi, type HttpApiOptions, type HttpEngine } from '../../src/http/api.js';
import { createMemoryStore } from '../../src/store/index.js';
import { FakeSession } from '../helpers/fake-session.js';

export const KEY = 'lpk_test-key-0123456789';
export const AUTH = { authorization: `Bearer ${KEY}` };

export interface ApiSetup {
  engineOptions?: Partial<DeliveryEngineOptions>;
  api?: Partial<HttpApiOptions>;
  devices?: string[];
  /** Wraps the engine the API sees (to count listeners or inject failures). */
  wrapEngine?: (engine: HttpEngine) => HttpEngine;
}

export async function setupApi(setup: ApiSetup = {}) {
  const clock = new ManualClock();
  const store = createMemoryStore();
  const engine = createDeliveryEngine({ store, clock, options: setup.engineOptions ?? {} });
  const directory = createDeviceDirectory({ store, clock, isOnline: (id) => engine.isOnline(id) });
  for (const id of setup.devices ?? ['d1', 'd2']) await directory.add({ id });
  const app = buildHttpApi({
    engine: setup.wrapEngine?.(engine) ?? engine,
    directory,
    providerKeys: [KEY, 'lpk_second-key-abcdefgh'],
    clock,
    ...setup.api,
  });
  const request = async (
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers: Record<string, string> = AUTH,
  ): Promise<LightMyRequestResponse> => {
    const options: InjectOptions = { method, url, headers };
    if (body !== undefined) options.payload = body as InjectOptions['payload'];
    return app.inject(options);
  };
  return {
    clock,
    store,
    engine,
    directory,
    app,
    request,
    /** Connects a fake session for the device and waits until the engine has set it up. */
    connect: async (deviceId: string, resumeThrough?: number) => {
      const session = new FakeSession(deviceId).connect(engine, resumeThrough);
      await engine.idle();
      return session;
    },
    close: async () => {
      await app.close();
      await engine.close();
    },
  };
}

/** The parsed JSON body of a response. */
export function json<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

/** The error code of an error response. */
export function errorCode(response: LightMyRequestResponse): string | undefined {
  return json<{ error?: { code?: string } }>(response).error?.code;
}
