/**
 * The demo's HTTP side: the page (static HTML and JS from ./public, no build step) and an enrolment
 * route that gives anyone who opens the page a device and its credential. Enrolling without the provider
 * key is what makes it a demo: `localpush demo` binds loopback unless told otherwise.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyContextConfig, FastifyInstance } from 'fastify';
import type { DeviceDirectory, ServerPlugin } from '../core.js';

/** What {@link demoPlugin} needs besides the core. */
export interface DemoPluginOptions {
  /** The WebSocket device port (known only once the listener is bound, hence a function). */
  wsPort: () => number | undefined;
  /** The WebSocket path devices connect to. */
  wsPath: string;
}

/** The page's files, served as they are. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

/** Skips the API's provider-key check (api.ts). */
const PUBLIC = { public: true } as FastifyContextConfig;

/**
 * The page's directory. tsc copies no .html or .js into dist/, so from a build the sources next to it
 * are used (packages/server/src/demo/public).
 */
export function demoPublicDir(): string {
  const candidates = [
    new URL('./public/', import.meta.url),
    new URL('../../src/demo/public/', import.meta.url),
  ];
  const found = candidates.find((url) => existsSync(new URL('index.html', url)));
  return fileURLToPath(found ?? candidates[0] ?? new URL('./public/', import.meta.url));
}

/** The demo: GET /, GET /favicon.ico, GET /demo/<file> and POST /demo/join on the HTTP API. */
export function demoPlugin(options: DemoPluginOptions): ServerPlugin {
  return {
    name: 'demo',
    setup: ({ directory }) => ({
      routes: (api) => registerDemoRoutes(api, { ...options, directory }),
    }),
  };
}

function registerDemoRoutes(
  app: FastifyInstance,
  deps: DemoPluginOptions & { directory: Pick<DeviceDirectory, 'add'> },
): void {
  const dir = demoPublicDir();
  app.get('/', { config: PUBLIC, schema: { hide: true } }, async (_request, reply) =>
    reply.redirect('/demo/'),
  );
  // The page names its icon, but browsers still ask for /favicon.ico on some loads (a bookmark, a tab
  // restored); without this route the API's key check answered 401, a console error on every load.
  app.get('/favicon.ico', { config: PUBLIC, schema: { hide: true } }, async (_request, reply) =>
    reply
      .type('image/svg+xml')
      .header('cache-control', 'max-age=86400')
      .send(await readFile(`${dir}/icon.svg`, 'utf8')),
  );
  app.get<{ Params: { file?: string } }>(
    '/demo/:file?',
    { config: PUBLIC, schema: { hide: true } },
    async (request, reply) => {
      const name = request.params.file || 'index.html';
      const type = FILES[name];
      if (type === undefined) return reply.code(404).type('text/plain').send('not found\n');
      // Read on every request: the page is small, and edits show up on reload.
      const body = await readFile(`${dir}/${name}`, 'utf8');
      return reply.type(type).header('cache-control', 'no-store').send(body);
    },
  );
  app.post<{ Body: { name: string } }>(
    '/demo/join',
    {
      config: PUBLIC,
      schema: {
        hide: true,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 40, pattern: '\\S' } },
        },
      },
    },
    async (request) => {
      const { device, credential } = await deps.directory.add({ label: request.body.name.trim() });
      return {
        deviceId: device.id,
        name: device.label,
        credential,
        wsPort: deps.wsPort(),
        wsPath: deps.wsPath,
      };
    },
  );
}
