/**
 * docs/cli.md, rendered from the commands' own help texts so that the page can never disagree with
 * `--help`. `npm run docs:cli` writes it; a test fails when the committed page is stale.
 */
import { AGENT_HELP } from './agent.js';
import { DEMO_HELP } from './demo.js';
import { DEVICE_HELP } from './device.js';
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
];

/** The whole of docs/cli.md. */
export function renderCliDocs(): string {
  const parts = [
    '# The `localpush` command',
    '',
    "Generated from the commands' `--help` texts (`npm run docs:cli`). Bad usage — an unknown flag, a",
    'missing or malformed value — exits with status 2 and names the problem; failures at run time exit',
    'with 1.',
    '',
  ];
  for (const [title, help] of SECTIONS)
    parts.push(`## \`${title}\``, '', '```text', help.trimEnd(), '```', '');
  return parts.join('\n');
}
