/** docs/cli.md must be exactly what the commands' --help texts render to. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { renderCliDocs } from '../src/docs.js';

it('docs/cli.md matches the commands\' help texts (regenerate with "npm run docs:cli")', async () => {
  const committed = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(committed, renderCliDocs());
});
