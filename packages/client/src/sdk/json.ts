/**
 * Deep validation of "property-list" values. Apple restricts providerConfiguration and userInfo to plist
 * types; we restrict them to JSON values because they are persisted as JSON and cross a worker boundary
 * (structured clone would silently accept Maps, Dates and cycles that JSON.stringify then mangles).
 */
import type { JsonValue } from '@localpush/protocol';

/** A JSON object (the shape of providerConfiguration and userInfo dictionaries). */
export type JsonObject = { [key: string]: JsonValue };

/** The maximum nesting depth accepted; deeper values are almost certainly a bug and would blow the stack. */
export const MAX_JSON_DEPTH = 64;

/**
 * Returns a description of the first problem found in `value`, or undefined when it is a valid JSON value:
 * only null, booleans, finite numbers, strings, arrays and plain objects; no cycles, no undefined, no
 * functions, symbols, bigints, NaN or Infinity, no class instances (Date, Map, Buffer…).
 */
export function jsonProblem(value: unknown, path = '$'): string | undefined {
  return check(value, path, new Set(), 0);
}

function check(value: unknown, path: string, seen: Set<object>, depth: number): string | undefined {
  if (depth > MAX_JSON_DEPTH) return `${path}: nested deeper than ${MAX_JSON_DEPTH}`;
  if (value === null) return undefined;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path}: ${String(value)} is not a finite number`;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      return `${path}: ${typeof value} is not a JSON value`;
    case 'object':
      break;
  }
  const obj = value;
  if (seen.has(obj)) return `${path}: cycle`;
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        // Sparse arrays have holes that JSON turns into null: reject instead of changing the value.
        if (!(i in obj)) return `${path}[${i}]: hole in sparse array`;
        const p = check(obj[i], `${path}[${i}]`, seen, depth + 1);
        if (p !== undefined) return p;
      }
      return undefined;
    }
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) return `${path}: not a plain object`;
    if (Object.getOwnPropertySymbols(obj).length > 0) return `${path}: symbol keys are not JSON`;
    for (const [k, v] of Object.entries(obj)) {
      const p = check(v, `${path}.${k}`, seen, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  } finally {
    // Only ancestors count as cycles; the same object twice in siblings is a DAG that JSON copies fine.
    seen.delete(obj);
  }
}

/** True when `value` is a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && jsonProblem(value) === undefined
  );
}

/** A deep, frozen copy, so that callers can hand it out without the holder's copy being mutated. */
export function frozenJsonCopy<T extends JsonValue>(value: T): T {
  return deepFreeze(JSON.parse(JSON.stringify(value)) as T);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
