// Writes docs/cli.md from the commands' help texts (see packages/cli/src/docs.ts).
import { writeFileSync } from 'node:fs';
import { renderCliDocs } from '../packages/cli/src/docs.js';

writeFileSync(new URL('../docs/cli.md', import.meta.url), renderCliDocs());
console.log('wrote docs/cli.md');
