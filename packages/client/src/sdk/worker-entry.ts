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
import {
  type AppPushProvider,
  type StopReason,
  providerAttach,
  providerDetach,
  providerUpdate,
} from './provider.js';
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
  let provider: AppPushProvider | undefined;
  // An object, not a variable: the message handler changes it while main() awaits.
  const state: { phase: 'starting' | 'running' | 'stopping' } = { phase: 'starting' };
  const stopping = (): boolean => state.phase === 'stopping';
  // Listening from the first moment: the host may ask for a stop while start() is still running (it left
  // the network, or it is shutting down), and the provider must get the chance to close its sockets.
  port.on('message', (msg: HostToWorker) => {
    switch (msg.type) {
      case 'timer':
        if (state.phase === 'running') guard(() => provider?.handleTimerEvent());
        break;
      case 'config':
        if (state.phase === 'running') guard(() => provider?.[providerUpdate](msg.configuration));
        break;
      case 'stop':
        if (stopping()) break;
        state.phase = 'stopping';
        stop(provider, msg.reason, post);
        break;
    }
  });
  try {
    const Provider = await loadProviderClass(data.registration, data.baseDir);
    if (stopping()) return;
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
    if (stopping()) return; // the stop in progress reports for this instance
    const e = err as { message?: unknown; code?: unknown };
    post({
      type: 'startFailed',
      message: typeof e.message === 'string' ? e.message : String(err),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    });
    return;
  }
  if (stopping()) return;
  state.phase = 'running';
  post({ type: 'started' });
}

/** Runs a callback into the provider; whatever it throws, now or later, crashes the thread. */
function guard(fn: () => void | Promise<void> | undefined): void {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(crash);
  } catch (err) {
    crash(err);
  }
}

/** Stops the provider (if it got as far as being created) and confirms; the host terminates the thread. */
function stop(
  provider: AppPushProvider | undefined,
  reason: StopReason,
  post: (msg: WorkerToHost) => void,
): void {
  if (provider === undefined) {
    post({ type: 'stopped' });
    return;
  }
  Promise.resolve()
    .then(() => provider.stop(reason))
    .catch(() => undefined) // A failing stop still ends in termination.
    .finally(() => {
      provider[providerDetach]();
      post({ type: 'stopped' });
    });
}

if (!isMainThread && parentPort !== null) void main(parentPort);
