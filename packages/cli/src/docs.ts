/**
 * docs/cli.md, rendered from the commands' own help texts so that the page can never disagree with
 * `--help`. `npm run docs:cli` writes it; a test fails when the committed page is stale.
 */
import { envName, optionSpellings } from '@localpush/server';
import { AGENT_HELP } from './agent.js';
import { BACKUP_HELP, RESTORE_HELP } from './backup.js';
import { CONFIG_HELP } from './config.js';
import { DEMO_HELP } from './demo.js';
import { DEVICE_HELP } from './device.js';
import { DOCTOR_HELP } from './doctor.js';
import { LISTEN_HELP } from './listen.js';
import { MAIN_HELP } from './main.js';
import { SEND_HELP } from './send.js';
import { SERVE_HELP } from './serve.js';

const SECTIONS: [title: string, help: string][] = [
  ['localpush', MAIN_HELP],
  ['localpush serve', SERVE_HELP],
  ['localpush device', DEVICE_HELP],
  ['localpush send', SEND_HELP],
  ['localpush listen', LISTEN_HELP],
  ['localpush agent', AGENT_HELP],
  ['localpush demo', DEMO_HELP],
  ['localpush doctor', DOCTOR_HELP],
  ['localpush backup', BACKUP_HELP],
  ['localpush restore', RESTORE_HELP],
  ['localpush config', CONFIG_HELP],
];

/** The whole of docs/cli.md. */
export function renderCliDocs(): string {
  const parts = [
    '# The `localpush` command',
    '',
    "Generated from the commands' `--help` texts (`npm run docs:cli`). Bad usage — an unknown flag, a",
    'missing or malformed value — exits with status 2 and names every problem at once; failures at run',
    'time exit with 1. Each failure is one line, `localpush <command>: <code>: <what failed and the fix>`,',
    'with a stable code ([errors.md](errors.md)); a stack trace only with `--log-level debug`.',
    '',
  ];
  for (const [title, help] of SECTIONS)
    parts.push(`## \`${title}\``, '', '```text', help.trimEnd(), '```', '');
  parts.push(...renderConfigurationSection());
  return parts.join('\n');
}

/** The config file shown in docs/cli.md (a test reads it). */
export const CONFIG_FILE_EXAMPLE: readonly string[] = [
  '# /etc/localpush/serve.toml',
  'data-dir = "/var/lib/localpush"',
  'heartbeat-interval = "30s"',
  'ws-port = false',
  'apns-port = 8443',
  '[[apns-key]]',
  'teamId = "TEAM123456"',
  'keyId = "KEY1234567"',
  'path = "AuthKey_KEY1234567.p8"',
  'topics = ["com.example.app"]',
];

/** The server's options as a table: every spelling of each, and its default. */
function renderConfigurationSection(): string[] {
  const lines = [
    '## Configuring `localpush serve`',
    '',
    'Every option of `serve` has three spellings, all derived from one table in the server',
    '(`packages/server/src/config/options.ts`): the flag, an environment variable, and a key in a TOML',
    'config file named by `--config` (or `LOCALPUSH_CONFIG`). Per option, a flag wins over the',
    'environment, which wins over the file, which wins over the default. Relative paths in a file are',
    "relative to the file's directory; in a flag or variable, to the working directory. Durations are",
    'written `500ms`, `20s`, `5m`, `1h`, `7d`; sizes `65536`, `64KiB`, `1MiB`; a port that can be off',
    'takes `off` (or `false` in a file). A repeatable flag is a comma-separated list in a variable and a',
    'list in a file. An unknown key in a file is an error, so a typo never passes silently.',
    '',
    '```toml',
    ...CONFIG_FILE_EXAMPLE,
    '```',
    '',
    '| flag | environment | file key | default |',
    '| --- | --- | --- | --- |',
  ];
  for (const { flag, env, fileKey, option } of optionSpellings()) {
    const shown = option.showDefault === false ? '—' : `\`${option.kind.show(option.default)}\``;
    lines.push(`| \`--${flag}\` | \`${env}\` | \`${fileKey}\` | ${shown} |`);
    for (const alias of option.aliases ?? [])
      lines.push(`| \`--${alias.flag}\` | \`${envName(alias.flag)}\` | \`${alias.flag}\` | — |`);
  }
  lines.push('');
  return lines;
}
