// ESLint flat config: typed rules from typescript-eslint over every package, test and benchmark.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers, as import-x/no-restricted-paths zones: code under `target` may not import code under
 * `from`. See docs/architecture.md. The protocol is pure and imports nothing of ours; the client
 * imports only the protocol; the server's core (store → engine → presence → gateway) never reaches up
 * into the HTTP API, the features or the CLI; features (APNs, SimplePush, the demo) reach the core only
 * through packages/server/src/core.ts. The server is a library: it never imports the CLI (packages/cli),
 * and the CLI uses the other packages through their public entries (`@localpush/server`, …) only.
 */
const server = 'packages/server/src';
const features = ['apns', 'simplepush', 'demo', 'health'].map((f) => `${server}/${f}`);
const coreInsides = ['engine', 'store', 'presence', 'gateway', 'http'].map((d) => `${server}/${d}`);
const cli = 'packages/cli/src';
/** The files behind each package's entries in its package.json "exports", for the CLI's zones. */
const publicEntries = {
  protocol: ['./index.ts', './link.ts'],
  client: ['./index.ts'],
  server: ['./index.ts'],
};
const layerZones = [
  {
    target: 'packages/protocol/src',
    from: ['packages/client', 'packages/server', 'packages/cli'],
    message: 'the protocol package is pure and imports nothing of ours',
  },
  {
    target: 'packages/client/src',
    from: ['packages/server', 'packages/cli'],
    message: 'the client SDK depends on the protocol package only',
  },
  {
    target: 'packages/server',
    from: ['packages/cli'],
    message: 'the server is a library and imports nothing from the CLI package',
  },
  ...Object.entries(publicEntries).map(([name, except]) => ({
    target: cli,
    from: `packages/${name}/src`,
    except,
    message: `the CLI uses @localpush/${name} through its public entries only`,
  })),
  {
    target: `${server}/store`,
    from: [...coreInsides.filter((d) => !d.endsWith('/store')), ...features, `${server}/server.ts`],
    message: 'the stores are the bottom of the core',
  },
  {
    target: `${server}/engine`,
    from: [`${server}/gateway`, `${server}/presence`, `${server}/http`, ...features, `${server}/server.ts`],
    message: 'the engine imports no gateway, presence, HTTP, feature or CLI code',
  },
  {
    target: `${server}/presence`,
    from: [`${server}/gateway`, `${server}/http`, ...features, `${server}/server.ts`],
    message: 'presence imports no gateway, HTTP, feature or CLI code',
  },
  {
    target: `${server}/gateway`,
    from: [`${server}/http`, ...features, `${server}/server.ts`],
    message: 'the gateway imports no HTTP, feature or CLI code',
  },
  {
    target: `${server}/http`,
    from: [...features, `${server}/server.ts`],
    message: 'the HTTP API imports no feature or CLI code',
  },
  ...features.map((feature) => ({
    target: feature,
    from: [...coreInsides, ...features.filter((f) => f !== feature), `${server}/server.ts`],
    message: 'a feature uses the core through packages/server/src/core.ts only',
  })),
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    // No import cycles anywhere, and the layers above.
    files: ['packages/*/src/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Dependencies are parsed as TypeScript too, or no-cycle cannot follow an import past the first file.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: './tsconfig.json',
          conditionNames: ['source', 'import', 'default'],
        }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
    },
  },
  {
    // Files under ~600 lines and functions under ~80 (docs/architecture.md), as rules rather than advice.
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 600, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Plain JavaScript (the config itself, scripts, the bin shim) runs on Node without type information.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
);
