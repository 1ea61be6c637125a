#!/usr/bin/env node
// The `localpush` command. A committed shim rather than a link straight into dist/, so that npm can link
// the command at install time, before anything is built; it says what to do when the build is missing.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'localpush: not built yet — run "npm run build" (or "npm start") in the repository first\n',
  );
  process.exit(1);
}
const { run, processIo } = await import(main.href);
process.exitCode = await run(process.argv.slice(2), processIo());
