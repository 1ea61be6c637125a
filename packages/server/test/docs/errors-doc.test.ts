/**
 * docs/errors.md is the promised list of every stable error code: this fails when a code defined in any
 * package's source is not documented there, so a new code cannot ship undocumented.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..', '..');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

it('documents every LP_ error code defined in the sources', async () => {
  const docs = await readFile(join(root, 'docs', 'errors.md'), 'utf8');
  const files = (
    await Promise.all(
      ['protocol', 'client', 'server', 'cli'].map((p) => sourceFiles(join(root, 'packages', p, 'src'))),
    )
  ).flat();
  const codes = new Set<string>();
  for (const file of files) {
    for (const match of (await readFile(file, 'utf8')).matchAll(/'(LP_[A-Z0-9_]+)'/g)) {
      if (match[1] !== undefined) codes.add(match[1]);
    }
  }
  assert.ok(codes.size > 40, `found only ${codes.size} codes: the scan is broken`);
  const missing = [...codes].filter((code) => !docs.includes(`\`${code}\``)).sort();
  assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
});
