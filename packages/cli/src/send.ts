/** `localpush send`: pushes a message to one or more devices and prints each device's outcome. */
import { PUSH_KINDS, PUSH_PRIORITIES, type JsonValue } from '@localpush/protocol';
import { parseDuration } from '@localpush/server';
import { CliError, EXIT, apiTarget, callApi, parseFlags, requireInteger, type CliIo } from './common.js';

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

Exit status: 0 when every device acknowledged (or, with --no-wait, the message was accepted for all),
1 otherwise.
`;

interface SendResult {
  device: string;
  id: string;
  status: string;
  duplicate: boolean;
}

export async function send(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    'send',
    args,
    {
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
    },
    true,
  );
  if (values.help) {
    io.stdout(SEND_HELP);
    return EXIT.ok;
  }
  const to = values.to ?? [];
  if (to.length === 0) throw new CliError('send needs at least one --to <device>', EXIT.usage);
  if (positionals.length !== 1) {
    throw new CliError('send takes exactly one message argument (quote it)', EXIT.usage);
  }
  const kind = values.kind ?? 'alert';
  if (!(PUSH_KINDS as readonly string[]).includes(kind)) {
    throw new CliError(`--kind must be one of ${PUSH_KINDS.join(', ')}, got "${kind}"`, EXIT.usage);
  }
  const priority = requireInteger('priority', values.priority, 1, 10) ?? 10;
  if (!(PUSH_PRIORITIES as readonly number[]).includes(priority)) {
    throw new CliError(`--priority must be one of ${PUSH_PRIORITIES.join(', ')}`, EXIT.usage);
  }
  if (values.ttl !== undefined && values['now-or-never']) {
    throw new CliError('--ttl and --now-or-never contradict each other', EXIT.usage);
  }
  const wait = !values['no-wait'];
  const body: Record<string, unknown> = {
    to: to.length === 1 ? to[0] : to,
    kind,
    priority,
    payload: parsePayload(positionals[0] ?? ''),
    wait,
  };
  if (values.ttl !== undefined) {
    body.expiration = Math.ceil((Date.now() + durationFlag('ttl', values.ttl)) / 1000);
  }
  if (values['now-or-never']) body.expiration = 0;
  if (values['collapse-id'] !== undefined) body.collapseId = values['collapse-id'];
  if (values.id !== undefined) body.id = values.id;
  if (wait)
    body.waitTimeoutMs = values.timeout === undefined ? 5000 : durationFlag('timeout', values.timeout);

  const result = await callApi<{ results: SendResult[] }>(
    await apiTarget(values, io),
    'POST',
    '/v1/push',
    body,
  );
  if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const r of result.results) {
      io.stdout(`${r.device}  ${r.status}${r.duplicate ? ' (already submitted)' : ''}  id=${r.id}\n`);
    }
  }
  const good = wait ? ['delivered'] : ['delivered', 'sent', 'queued'];
  return result.results.every((r) => good.includes(r.status)) ? EXIT.ok : EXIT.failure;
}

function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new CliError(`--${flag}: ${(error as Error).message}`, EXIT.usage);
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
