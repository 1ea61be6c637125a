/**
 * Where AppPushManager configurations live. The file store rewrites the whole JSON document atomically —
 * temp file in the same directory, fsync, rename over the old file, fsync the directory — so a crash or
 * power cut at any instant leaves either the old document or the new one, never a torn mix.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { open, readFile, readdir, rename, stat, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppPushError, AppPushErrorCode, AppPushErrorStringCode, isAppPushError } from './errors.js';
import { type AppPushConfiguration, validateConfiguration } from './configuration.js';

/** Where a provider implementation is loaded from (see docs/client-sdk.md, "Provider registry"). */
export interface ProviderModuleRef {
  /** Absolute path, file: URL, or package specifier of an ES module. */
  module: string;
  /** Name of the exported provider class; `default` when absent. */
  export?: string;
}

/**
 * A record of the stored document that breaks a rule: a configuration the validator refuses (or one
 * whose id an earlier record already has), or a `providers` entry without a module. The reader sets it
 * aside — the document's other records still load — and reports it; it stays in the store exactly as it
 * was (the next save writes it back untouched) until a valid configuration with its id is saved over it.
 */
export interface RejectedRecord {
  /** Which part of the document it is in. */
  section: 'configurations' | 'providers';
  /** Its index in `configurations`, or its key in `providers`. */
  key: number | string;
  /** The configuration's id, when it has a usable one. */
  id?: string;
  /** Always `LP_APPPUSH_CONFIGURATION_INVALID`: what an AppPushError for it carries. */
  code: AppPushErrorStringCode;
  /** What is wrong with it, naming the field. */
  message: string;
  /** The record as it stands in the store. */
  record: unknown;
}

/** The persisted document, as readers see it. */
export interface PreferencesDocument {
  version: 1;
  configurations: AppPushConfiguration[];
  /** providerBundleIdentifier → module, for the agent's worker host. Kept as is across saves. */
  providers?: Record<string, ProviderModuleRef>;
  /** Records the reader refused (see {@link RejectedRecord}); never handed to a host as configurations. */
  rejected?: RejectedRecord[];
}

/** Persistence for configurations. Emits `change` (document) after every successful write. */
export interface PreferencesStore extends EventEmitter {
  /** The current document. */
  read(): Promise<PreferencesDocument>;
  /**
   * Read-modify-write, serialised with every other update of this store object so that two saves in one
   * process never lose each other's changes. `fn` may mutate and return the document it is given. The
   * result is checked by the reader's own rules before anything is written: a document with a record a
   * reader would refuse is not written (configurationInvalid), so no update can make the store unreadable.
   */
  update(fn: (doc: PreferencesDocument) => PreferencesDocument): Promise<PreferencesDocument>;
}

function emptyDocument(): PreferencesDocument {
  return { version: 1, configurations: [] };
}

function structureError(source: string, problem: string): AppPushError {
  return new AppPushError(AppPushErrorCode.internalError, `${source}: ${problem}`);
}

/** Parses and checks a preferences document; see {@link readPreferences}. */
export function parsePreferences(text: string, source = 'preferences'): PreferencesDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AppPushError(AppPushErrorCode.internalError, `${source} is not valid JSON`, { cause: err });
  }
  return readPreferences(raw, source);
}

/**
 * The document in a stored JSON value. A broken whole (not `{"version": 1}`, `configurations` not an
 * array, `providers` not an object) is internalError; a broken record is set aside in `rejected` and
 * the rest is read.
 */
export function readPreferences(raw: unknown, source = 'preferences'): PreferencesDocument {
  if (typeof raw !== 'object' || raw === null || (raw as { version?: unknown }).version !== 1) {
    throw structureError(source, 'expected {"version": 1, ...}');
  }
  const stored = raw as { configurations?: unknown; providers?: unknown };
  const records = stored.configurations ?? [];
  if (!Array.isArray(records)) throw structureError(source, 'configurations must be an array');
  if (stored.providers !== undefined && !isPlainObject(stored.providers)) {
    throw structureError(source, 'providers must be an object');
  }
  const rejected: RejectedRecord[] = [];
  const doc: PreferencesDocument = { version: 1, configurations: sortConfigurations(records, rejected) };
  if (stored.providers !== undefined) doc.providers = sortProviders(stored.providers, rejected);
  if (rejected.length > 0) doc.rejected = rejected;
  return doc;
}

/**
 * What a store writes for `doc`. Every configuration and provider entry must pass the very rules
 * {@link readPreferences} applies — the same functions — or nothing is written: configurationInvalid,
 * naming the field. The document's rejected records go back as they were, except a configuration that a
 * valid one with the same id now replaces.
 */
export function storedPreferences(doc: PreferencesDocument): Record<string, unknown> {
  const refused: RejectedRecord[] = [];
  sortConfigurations(doc.configurations, refused);
  if (doc.providers !== undefined) sortProviders(doc.providers, refused);
  const first = refused[0];
  if (first !== undefined) {
    throw new AppPushError(
      AppPushErrorCode.configurationInvalid,
      `not saved, a reader would refuse it: ${first.message}`,
    );
  }
  const ids = new Set(doc.configurations.map((c) => c.id));
  const keptConfigurations: unknown[] = [];
  const keptProviders: Record<string, unknown> = {};
  for (const r of doc.rejected ?? []) {
    if (r.section === 'providers') keptProviders[String(r.key)] = r.record;
    else if (r.id === undefined || !ids.has(r.id)) keptConfigurations.push(r.record);
  }
  const out: Record<string, unknown> = {
    version: 1,
    configurations: [...doc.configurations, ...keptConfigurations],
  };
  if (doc.providers !== undefined || Object.keys(keptProviders).length > 0) {
    out.providers = { ...keptProviders, ...doc.providers };
  }
  return out;
}

/** The valid configurations of `records`, in order; the others are appended to `rejected`. */
function sortConfigurations(records: readonly unknown[], rejected: RejectedRecord[]): AppPushConfiguration[] {
  const valid: AppPushConfiguration[] = [];
  const seen = new Set<string>();
  records.forEach((record, index) => {
    const rawId = (record as { id?: unknown } | null)?.id;
    const id = typeof rawId === 'string' && rawId !== '' ? rawId : undefined;
    const reject = (message: string): void => {
      rejected.push({
        section: 'configurations',
        key: index,
        ...(id === undefined ? {} : { id }),
        code: AppPushErrorStringCode[AppPushErrorCode.configurationInvalid],
        message: `configurations[${index}]${id === undefined ? '' : ` (${id})`}: ${message}`,
        record,
      });
    };
    try {
      validateConfiguration(record);
    } catch (err) {
      if (!isAppPushError(err)) throw err;
      return reject(err.message);
    }
    if (seen.has(record.id)) return reject('another configuration already has this id');
    seen.add(record.id);
    valid.push(record);
  });
  return valid;
}

/** The valid entries of a `providers` object; the others are appended to `rejected`. */
function sortProviders(entries: object, rejected: RejectedRecord[]): Record<string, ProviderModuleRef> {
  const valid: Record<string, ProviderModuleRef> = {};
  for (const [key, ref] of Object.entries(entries)) {
    const problem = providerRefProblem(ref);
    if (problem === undefined) {
      valid[key] = ref as ProviderModuleRef;
      continue;
    }
    rejected.push({
      section: 'providers',
      key,
      code: AppPushErrorStringCode[AppPushErrorCode.configurationInvalid],
      message: `providers.${key}: ${problem}`,
      record: ref,
    });
  }
  return valid;
}

function providerRefProblem(ref: unknown): string | undefined {
  if (!isPlainObject(ref)) return 'must be an object {"module": …, "export"?: …}';
  const { module, export: name } = ref as { module?: unknown; export?: unknown };
  if (typeof module !== 'string' || module === '') return 'module must be a non-empty string';
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    return 'export must be a non-empty string';
  return undefined;
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A store in memory, for tests and for apps that manage persistence themselves. Same rules as the file. */
export class MemoryPreferencesStore extends EventEmitter implements PreferencesStore {
  /** The document as stored: what a file would hold. */
  private stored: unknown;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(initial: PreferencesDocument = emptyDocument()) {
    super();
    this.stored = structuredClone(initial);
  }

  read(): Promise<PreferencesDocument> {
    try {
      return Promise.resolve(readPreferences(structuredClone(this.stored), 'memory preferences'));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  update(fn: (doc: PreferencesDocument) => PreferencesDocument): Promise<PreferencesDocument> {
    const run = this.queue.then(async () => {
      this.stored = storedPreferences(fn(await this.read()));
      const doc = await this.read();
      this.emit('change', structuredClone(doc));
      return doc;
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
      const stored = storedPreferences(fn(await this.read()));
      await this.write(stored);
      const doc = readPreferences(stored, this.path);
      this.emit('change', structuredClone(doc));
      return doc;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(doc: Record<string, unknown>): Promise<void> {
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
