/**
 * The provider registry: how a providerBundleIdentifier becomes code. iOS finds the extension by bundle id
 * inside the app; we look it up in, in order, the host's `registry` option, the `providers` section of the
 * preferences file, and the built-in entry for {@link LocalPushProvider}.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProviderModuleRef } from './preferences.js';
import type { AppPushProvider } from './provider.js';

/** The bundle identifier under which the ready-made LocalPushProvider is registered. */
export const LOCAL_PUSH_PROVIDER_BUNDLE_ID = 'dev.localpush.provider';

/**
 * A registry entry: a module (works in both isolation modes) or, for in-process hosts only, a factory —
 * handy in tests and for apps that construct providers with dependencies.
 */
export type ProviderRegistration = ProviderModuleRef | { create: () => AppPushProvider };

/** providerBundleIdentifier → registration. */
export type ProviderRegistry = Readonly<Record<string, ProviderRegistration>>;

/** `.ts` when this file runs under tsx from sources, `.js` from dist; sibling modules share the suffix. */
export const MODULE_SUFFIX = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The built-in entries. */
export const BUILTIN_PROVIDERS: ProviderRegistry = {
  [LOCAL_PUSH_PROVIDER_BUNDLE_ID]: {
    module: new URL(`./local-provider${MODULE_SUFFIX}`, import.meta.url).href,
    export: 'LocalPushProvider',
  },
};

/** Finds the registration of `bundleId` in the given registries, first match wins. */
export function lookupProvider(
  bundleId: string,
  ...registries: (ProviderRegistry | undefined)[]
): ProviderRegistration | undefined {
  for (const r of registries) {
    if (r !== undefined && Object.hasOwn(r, bundleId)) return r[bundleId];
  }
  return undefined;
}

/**
 * Turns a module reference into an import() specifier: URLs stay, absolute paths become file: URLs,
 * `./` and `../` paths resolve against `baseDir` (the preferences file's directory), anything else is a
 * package specifier.
 */
export function moduleSpecifier(module: string, baseDir = process.cwd()): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  if (isAbsolute(module)) return pathToFileURL(module).href;
  if (module.startsWith('./') || module.startsWith('../'))
    return pathToFileURL(resolve(baseDir, module)).href;
  return module;
}

/** Imports a provider module and returns its class; throws when the export is not a provider class. */
export async function loadProviderClass(
  ref: ProviderModuleRef,
  baseDir?: string,
): Promise<new () => AppPushProvider> {
  const mod = (await import(moduleSpecifier(ref.module, baseDir))) as Record<string, unknown>;
  const name = ref.export ?? 'default';
  const cls = mod[name];
  // Duck-typed, not instanceof: the module may extend another copy of AppPushProvider (dist vs. sources).
  const proto =
    typeof cls === 'function' ? (cls.prototype as Record<string, unknown> | undefined) : undefined;
  if (proto === undefined || typeof proto.start !== 'function' || typeof proto.stop !== 'function') {
    throw new Error(`${ref.module}: export ${name} is not an AppPushProvider subclass`);
  }
  return cls as new () => AppPushProvider;
}
