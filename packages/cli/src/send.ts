/** `localpush send`: pushes a message to one or more devices and prints each device's outcome. */
import { PUSH_KINDS, PUSH_PRIORITIES, type JsonValue } from '@localpush/protocol';
import { parseDuration } from '@localpush/server';
import {
  EXIT,
  Problems,
  apiTarget,
  callApi,
  parseFlags,
  requireInteger,
  usageError,
  type ApiTarget,
  type CliIo,
  type FlagValues,
} from './common.js';

export const SEND_HELP = `Usage: localpush send --to <device> [--to <device> …] [options] <message>

<message> is JSON (an object, array, number…) or, when it is not valid JSON, plain text that is sent
as {"text": "<message>"}.

Options:
  --to <id>              device to push to (repeat for several)
  --kind <kind>          ${PUSH_KINDS.join(' | ')} (default alert)
  --priority <n>         ${PUSH_PRIORITIES.join(' | ')} (default 10)
  --ttl <duration>       keep it this long for an offline device (e.g. 30s, 1h); default: the server's
  --now-or-never         deliver only if the device is connected now; never store it (expiration 0)
  --collapse-id <id>     replace a queued message with the same collapse id
  --id <id>              message id (idempotency key; one device only)
  --no-wait              do not wait for the device's acknowledgement
  --timeout <duration>   how long to wait for the acknowledgement (default 5s)
  --api <url>, --key <key>, --data-dir <dir>   where the API is and how to authenticate (see device --help)
  --json                 print the API's JSON answer
  -h, --help             show this help

Each device's outcome is one line: delivered (acknowledged), queued (the device is offline: it gets
the message when it connects, until the message expires), sent (written to the device's connection,
not acknowledged within --timeout: written again until it is), or a failure (expired, unknown_device,
conflict).

Exit status: 0 when every device acknowledged (with --no-wait: the message was accepted for all);
3 when it was accepted for all but some device has not acknowledged it yet (queued or sent: it is kept
and delivered later); 1 when it failed for some device, or the API refused the request; 2 bad usage.
`;

interface SendResult {
  device: string;
  id: string;
  status: string;
  duplicate: boolean;
}

const SEND_FLAGS = {
  to: { type: 'string', multiple: true },
  kind: { type: 'string' },
  priority: { type: 'string' },
  ttl: { type: 'string' },
  'now-or-never': { type: 'boolean' },
  'collapse-id': { type: 'string' },
  id: { type: 'string' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
  api: { type: 'string' },
  key: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

type SendFlags = FlagValues<typeof SEND_FLAGS>;

export async function send(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags('send', args, SEND_FLAGS, true);
  if (values.help) {
    io.stdout(SEND_HELP);
    return EXIT.ok;
  }
  const body = sendBody(values, positionals);
  const target = await apiTarget(values, io);
  const result = await callApi<{ results: SendResult[] }>(target, 'POST', '/v1/push', body);
  if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const r of result.results) {
      const outcome = await describeOutcome(target, r, values.timeout ?? '5s');
      io.stdout(`${r.device}  ${outcome}${r.duplicate ? ' (already submitted)' : ''}  id=${r.id}\n`);
    }
  }
  if (result.results.every((r) => r.status === 'delivered')) return EXIT.ok;
  const kept = ['sent', 'queued', 'timeout', ...(body.wait === false ? ['delivered'] : [])];
  return result.results.every((r) => r.status === 'delivered' || kept.includes(r.status))
    ? body.wait === false
      ? EXIT.ok
      : EXIT.pending
    : EXIT.failure;
}

/** The request body from the command line, with every mistake in it reported at once. */
function sendBody(values: SendFlags, positionals: string[]): Record<string, unknown> {
  const problems = new Problems();
  const to = values.to ?? [];
  if (to.length === 0) problems.add('send needs at least one --to <device>');
  if (positionals.length !== 1)
    problems.add(`send takes exactly one message argument (quote it), got ${positionals.length}`);
  const kind = values.kind ?? 'alert';
  if (!(PUSH_KINDS as readonly string[]).includes(kind))
    problems.add(`--kind must be one of ${PUSH_KINDS.join(', ')}, got "${kind}"`);
  const priority = problems.check(() => requireInteger('priority', values.priority, 1, 10)) ?? 10;
  if (!(PUSH_PRIORITIES as readonly number[]).includes(priority))
    problems.add(`--priority must be one of ${PUSH_PRIORITIES.join(', ')}, got "${values.priority}"`);
  if (values.ttl !== undefined && values['now-or-never'])
    problems.add('--ttl and --now-or-never contradict each other');
  const ttl =
    values.ttl === undefined ? undefined : problems.check(() => durationFlag('ttl', values.ttl ?? ''));
  const timeout =
    values.timeout === undefined ? 5000 : problems.check(() => durationFlag('timeout', values.timeout ?? ''));
  problems.throwIfAny();
  const wait = !values['no-wait'];
  const body: Record<string, unknown> = {
    to: to.length === 1 ? to[0] : to,
    kind,
    priority,
    payload: parsePayload(positionals[0] ?? ''),
    wait,
  };
  if (ttl !== undefined) body.expiration = Math.ceil((Date.now() + ttl) / 1000);
  if (values['now-or-never']) body.expiration = 0;
  if (values['collapse-id'] !== undefined) body.collapseId = values['collapse-id'];
  if (values.id !== undefined) body.id = values.id;
  if (wait) body.waitTimeoutMs = timeout;
  return body;
}

/**
 * One device's outcome in words. A wait that timed out says whether the device is offline (the message
 * is queued for it) or connected and silent (it is written again until acknowledged).
 */
async function describeOutcome(target: ApiTarget, result: SendResult, timeout: string): Promise<string> {
  if (result.status === 'queued')
    return 'queued: the device is offline; it gets the message when it connects';
  if (result.status !== 'timeout') return result.status;
  const device = await callApi<{ device?: { online?: boolean } }>(
    target,
    'GET',
    `/v1/devices/${encodeURIComponent(result.device)}`,
  ).catch(() => undefined);
  return device?.device?.online === false
    ? 'queued: the device is offline; it gets the message when it connects (until it expires)'
    : `sent, not acknowledged within ${timeout}: kept, and written again until the device acknowledges it`;
}

function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw usageError(`--${flag}: ${(error as Error).message}`);
  }
}

/** JSON when it parses, else the text wrapped as {"text": …} so `send "hello"` just works. */
export function parsePayload(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return { text };
  }
}
