/**
 * Entry point of a provider worker thread: loads the provider class named by the registration, starts
 * it, and relays host messages to it. An exception that escapes the provider ends the thread, which the
 * host reports as a crash — exactly like an app extension process dying.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '@localpush/protocol';
import type { JsonObject } from './json.js';
import type { LogLevel } from './log.js';
import type { AppPushConfiguration } from './configuration.js';
import type { ProviderModuleRef } from './preferences.js';
import { type StopReason, providerAttach, providerDetach, providerUpdate } from './provider.js';
import { loadProviderClass } from './registry.js';

/** What the host passes in `workerData`. */
export interface WorkerData {
  registration: ProviderModuleRef;
  configuration: AppPushConfiguration;
  baseDir: string | undefined;
}

/** Host → worker messages. */
export type HostToWorker =
  { type: 'stop'; reason: StopReason } | { type: 'timer' } | { type: 'config'; configuration: JsonObject };

/** Worker → host messages. */
export type WorkerToHost =
  | { type: 'started' }
  | { type: 'startFailed'; message: string; code?: string }
  | { type: 'stopped' }
  | { type: 'incomingCall'; userInfo: JsonObject }
  | { type: 'pushToTalk'; userInfo: JsonObject }
  | { type: 'unmatchEthernet' }
  | { type: 'log'; level: LogLevel; message: string; fields?: Record<string, unknown> };

// Rethrown outside any promise so that it is an uncaught exception: the thread dies and the host relaunches.
function crash(err: unknown): void {
  setImmediate(() => {
    throw err;
  });
}

async function main(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = workerData as WorkerData;
  const post = (msg: WorkerToHost): void => port.postMessage(msg);
  let provider;
  try {
    const Provider = await loadProviderClass(data.registration, data.baseDir);
    provider = new Provider();
    provider[providerAttach]({
      providerConfiguration: data.configuration.providerConfiguration,
      configurationId: data.configuration.id,
      // A ManualClock cannot cross threads; the host's 60 s timer still comes from the host's clock.
      clock: systemClock,
      log: (level, message, fields) => {
        try {
          post({ type: 'log', level, message, ...(fields === undefined ? {} : { fields }) });
        } catch {
          post({ type: 'log', level, message });
        }
      },
      reportIncomingCall: (userInfo) => post({ type: 'incomingCall', userInfo }),
      reportPushToTalkMessage: (userInfo) => post({ type: 'pushToTalk', userInfo }),
      unmatchEthernet: () => post({ type: 'unmatchEthernet' }),
    });
    await provider.start();
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    post({
      type: 'startFailed',
      message: typeof e.message === 'string' ? e.message : String(err),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    });
    return;
  }
  const running = provider;
  port.on('message', (msg: HostToWorker) => {
    switch (msg.type) {
      case 'timer':
        try {
          const r = running.handleTimerEvent();
          if (r instanceof Promise) r.catch(crash);
        } catch (err) {
          crash(err);
        }
        break;
      case 'config':
        running[providerUpdate](msg.configuration).catch(crash);
        break;
      case 'stop':
        running
          .stop(msg.reason)
          .catch(() => undefined) // A failing stop still ends in termination.
          .finally(() => {
            running[providerDetach]();
            post({ type: 'stopped' });
          });
        break;
    }
  });
  post({ type: 'started' });
}

if (!isMainThread && parentPort !== null) void main(parentPort);
