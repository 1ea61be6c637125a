/** `localpush agent`: runs the client SDK's ProviderHost from a preferences file — a device daemon. */
import { consoleLog, runAgent } from '@localpush/client';
import { CliError, EXIT, parseFlags, requireInteger, type CliIo } from './common.js';

export const AGENT_HELP = `Usage: localpush agent --preferences <file> [options]

Plays the part of the operating system for AppPushManager configurations: watches the network,
launches each enabled provider whose networks match (SSID, private LTE, Ethernet), wakes it every
60 s, stops it when the network goes away, and relaunches it when it crashes or exceeds its memory
limit. Edits of the preferences file are picked up while it runs; a record in it that breaks a rule
is reported and skipped, the others run. A provider whose start does not complete in time is ended
and relaunched like a crashed one. SIGTERM or Ctrl-C stops every provider within the stop timeout
(then its worker is terminated). See docs/client-sdk.md; an example systemd unit is in
docs/localpush-agent.service.

Options:
  --preferences <file>   the preferences JSON file written by AppPushManager.saveToPreferences
  --memory-limit <MiB>   heap limit of each provider worker (default 24, like the iOS extension)
  --start-timeout <s>    how long a provider's start may take (default 30)
  --stop-timeout <s>     how long a provider's stop may take before its worker is terminated
                         (default 10)
  --in-process           run providers in this process (no isolation; for debugging)
  -h, --help             show this help
`;

export async function agent(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('agent', args, {
    preferences: { type: 'string' },
    'memory-limit': { type: 'string' },
    'start-timeout': { type: 'string' },
    'stop-timeout': { type: 'string' },
    'in-process': { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(AGENT_HELP);
    return EXIT.ok;
  }
  if (values.preferences === undefined) {
    throw new CliError('agent needs --preferences <file>', EXIT.usage);
  }
  const memoryLimitMb = requireInteger('memory-limit', values['memory-limit'], 8, 4096);
  const startTimeoutS = requireInteger('start-timeout', values['start-timeout'], 1, 3600);
  const stopTimeoutS = requireInteger('stop-timeout', values['stop-timeout'], 1, 600);
  const running = await runAgent({
    preferencesPath: values.preferences,
    log: consoleLog,
    ...(values['in-process'] ? { isolation: 'in-process' as const } : {}),
    ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
    ...(startTimeoutS === undefined ? {} : { startTimeoutMs: startTimeoutS * 1000 }),
    ...(stopTimeoutS === undefined ? {} : { stopTimeoutMs: stopTimeoutS * 1000 }),
  });
  io.stderr(`agent running over ${values.preferences}; Ctrl-C stops every provider\n`);
  await io.untilInterrupted();
  await running.stop();
  return EXIT.ok;
}
