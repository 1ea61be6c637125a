#!/usr/bin/env node
// Finds every *.test.ts under packages/*/test and runs them with node:test through tsx. The "source"
// export condition makes workspace packages resolve to their TypeScript sources, so tests always run the
// code as it is in the tree, never a stale dist/.
// A script rather than a shell glob because Node 20's test runner does not expand globs itself and
// /bin/sh has no recursive `**`. Extra arguments are passed to node --test (e.g. --test-name-pattern).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = readdirSync('packages').map((p) => join('packages', p, 'test'));
const files = [];
const walk = (dir) => {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(path);
  }
};
roots.forEach(walk);
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const selected = only.length > 0 ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=120000',
    ...flags,
    ...selected,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
