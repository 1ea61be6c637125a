/**
 * Where AppPushManager configurations live. The file store rewrites the whole JSON document atomically —
 * temp file in the same directory, fsync, rename over the old file, fsync the directory — so a crash or
 * power cut at any instant leaves either the old document or the new one, never a torn mix.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { open, readFile, readdir, rename, stat, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppPushError, AppPushErrorCode } from './errors.js';
import { type AppPushConfiguration, validateConfiguration } from './configuration.js';

/** Where a provider implementation is loaded from (see docs/client-sdk.md, "Provider registry"). */
export interface ProviderModuleRef {
  /** Absolute path, file: URL, or package specifier of an ES module. */
  module: string;
  /** Name of the exported provider class; `default` when absent. */
  export?: string;
}

/** The persisted document. */
export interface PreferencesDocument {
  version: 1;
  configurations: AppPushConfiguration[];
  /** providerBundleIdentifier → module, for the agent's worker host. Kept as is across saves. */
  providers?: Record<string, ProviderModuleRef>;
}

/** Persistence for configurations. Emits `change` (document) after every successful write. */
export interface PreferencesStore extends EventEmitter {
  /** The current document. */
  read(): Promise<PreferencesDocument>;
  /**
   * Read-modify-write, serialised with every other update of this store object so that two saves in one
   * process never lose each other's changes. `fn` may mutate and return the document it is given.
   */
  update(fn: (doc: PreferencesDocument) => PreferencesDocument): Promise<PreferencesDocument>;
}

function emptyDocument(): PreferencesDocument {
  return { version: 1, configurations: [] };
}

/** Parses and validates a preferences document; throws internalError naming the problem. */
export function parsePreferences(text: string, source = 'preferences'): PreferencesDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AppPushError(AppPushErrorCode.internalError, `${source} is not valid JSON`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || (raw as { version?: unknown }).version !== 1) {
    throw new AppPushError(AppPushErrorCode.internalError, `${source}: expected {"version": 1, ...}`);
  }
  const doc = raw as { configurations?: unknown; providers?: unknown };
  const configurations = doc.configurations ?? [];
  if (!Array.isArray(configurations)) {
    throw new AppPushError(AppPushErrorCode.internalError, `${source}: configurations must be an array`);
  }
  for (const c of configurations) {
    try {
      validateConfiguration(c);
    } catch (err) {
      throw new AppPushError(AppPushErrorCode.internalError, `${source}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const out: PreferencesDocument = { version: 1, configurations: configurations as AppPushConfiguration[] };
  if (doc.providers !== undefined) {
    if (typeof doc.providers !== 'object' || doc.providers === null) {
      throw new AppPushError(AppPushErrorCode.internalError, `${source}: providers must be an object`);
    }
    for (const [id, ref] of Object.entries(doc.providers as Record<string, unknown>)) {
      if (typeof ref !== 'object' || ref === null || typeof (ref as ProviderModuleRef).module !== 'string') {
        throw new AppPushError(
          AppPushErrorCode.internalError,
          `${source}: providers.${id}.module must be a string`,
        );
      }
    }
    out.providers = doc.providers as Record<string, ProviderModuleRef>;
  }
  return out;
}

/** A store in memory, for tests and for apps that manage persistence themselves. */
export class MemoryPreferencesStore extends EventEmitter implements PreferencesStore {
  private doc: PreferencesDocument;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(initial: PreferencesDocument = emptyDocument()) {
    super();
    this.doc = structuredClone(initial);
  }

  read(): Promise<PreferencesDocument> {
    return Promise.resolve(structuredClone(this.doc));
  }

  update(fn: (doc: PreferencesDocument) => PreferencesDocument): Promise<PreferencesDocument> {
    const run = this.queue.then(() => {
      this.doc = structuredClone(fn(structuredClone(this.doc)));
      const copy = structuredClone(this.doc);
      this.emit('change', copy);
      return copy;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Options of {@link FilePreferencesStore}. */
export interface FilePreferencesStoreOptions {
  /**
   * Test hook, called after the temp file is written and synced and before the rename. A test throws here
   * (or kills the process) to show that a crash at that point leaves the previous document intact.
   */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

/** Temp files older than this are leftovers of a crashed writer and are removed on the next write. */
const STALE_TEMP_MS = 60_000;

/** The JSON-file store. One file holds every configuration (and the provider registry). */
export class FilePreferencesStore extends EventEmitter implements PreferencesStore {
  /** Path of the preferences file. */
  readonly path: string;
  private readonly options: FilePreferencesStoreOptions;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FilePreferencesStoreOptions = {}) {
    super();
    this.path = path;
    this.options = options;
  }

  /** Reads the file; a missing file is an empty document. Never looks at temp files: they are uncommitted. */
  async read(): Promise<PreferencesDocument> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyDocument();
      throw new AppPushError(AppPushErrorCode.internalError, `cannot read ${this.path}`, { cause: err });
    }
    return parsePreferences(text, this.path);
  }

  update(fn: (doc: PreferencesDocument) => PreferencesDocument): Promise<PreferencesDocument> {
    const run = this.queue.then(async () => {
      const next = fn(await this.read());
      await this.write(next);
      this.emit('change', structuredClone(next));
      return next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(doc: PreferencesDocument): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      // 'wx': never follow or reuse an existing file; 0600: credentials live in providerConfiguration.
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.options.beforeRename?.(tmp);
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err instanceof AppPushError
        ? err
        : new AppPushError(AppPushErrorCode.internalError, `cannot write ${this.path}`, { cause: err });
    }
    await syncDirectory(dir);
    await this.removeStaleTemps(dir);
  }

  private async removeStaleTemps(dir: string): Promise<void> {
    const prefix = `.${basename(this.path)}.tmp-`;
    const names = await readdir(dir).catch(() => [] as string[]);
    const now = Date.now();
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const p = join(dir, name);
      const st = await stat(p).catch(() => undefined);
      // Only old ones: a fresh temp may belong to another process that is about to rename it.
      if (st !== undefined && now - st.mtimeMs > STALE_TEMP_MS) await unlink(p).catch(() => undefined);
    }
  }
}

/** fsync a directory so the rename itself is durable. Windows cannot open directories: skip there. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some file systems (e.g. certain network mounts) reject fsync on directories; the rename still stands.
  } finally {
    await dh.close();
  }
}
