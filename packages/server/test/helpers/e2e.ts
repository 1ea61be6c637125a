/**
 * Shared pieces of the end-to-end tests: CLI commands run in-process with captured output, device
 * enrolment through the HTTP API, and event-driven waits on a DeviceClient.
 */
import assert from 'node:assert/strict';
import type { ClientState, DeviceClient } from '@localpush/client';
import { run } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/common.js';
import type { RunningServer } from '../../src/server.js';

/** A CLI command running in this process. */
export interface CapturedRun {
  code: Promise<number>;
  stdout: string[];
  stderr: string[];
  /** Ends a long-running command as Ctrl-C would. */
  interrupt: () => void;
  /** Resolves when stdout has a line matching `pattern`. */
  waitFor: (pattern: RegExp) => Promise<string>;
}

export function cli(argv: string[], env: NodeJS.ProcessEnv = {}): CapturedRun {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let interrupt = (): void => {};
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const watchers = new Set<() => void>();
  const io: CliIo = {
    stdout: (text) => {
      stdout.push(text);
      for (const w of [...watchers]) w();
    },
    stderr: (text) => stderr.push(text),
    env,
    untilInterrupted: () => interrupted,
  };
  return {
    code: run(argv, io),
    stdout,
    stderr,
    interrupt,
    waitFor: (pattern) =>
      new Promise((resolve) => {
        const check = (): void => {
          const line = stdout
            .join('')
            .split('\n')
            .find((l) => pattern.test(l));
          if (line !== undefined) {
            watchers.delete(check);
            resolve(line);
          }
        };
        watchers.add(check);
        check();
      }),
  };
}

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
