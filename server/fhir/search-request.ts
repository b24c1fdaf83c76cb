/**
 * Turns a FHIR search's query (GET query string or POST _search form body) into a validated
 * `FhirSearch`: control parameters checked, filters parsed by @medplum/core (typed after the
 * definitions are loaded), parameters unknown to FHIR collected as `ignored` (400 under
 * `Prefer: handling=strict`), and a normalized form for self links and cursor binding.
 */
import { badRequest, getSearchParameter, OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { Filter, IncludeTarget, SortRule } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';

export const DEFAULT_COUNT = 20;
/** The largest page a client can ask for; larger `_count` values are lowered to it. */
export const MAX_COUNT = 1000;

export type SummaryMode = 'true' | 'count' | 'data' | 'text';

export interface FhirSearch {
  readonly resourceType: string;
  readonly filters: readonly Filter[];
  readonly sort: readonly SortRule[];
  readonly count: number;
  readonly summary?: SummaryMode;
  readonly elements?: readonly string[];
  readonly include: readonly IncludeTarget[];
  readonly revInclude: readonly IncludeTarget[];
  /** `_total=none` turns totals off; otherwise the sum of sources' totals is given when known. */
  readonly total: boolean;
  /** `_total=accurate` or `_summary=count`: the client wants an exact count, worth a costly count at the sources. */
  readonly accurateTotal: boolean;
  readonly cursor?: string;
  /** Parameters left out because FHIR does not define them for this type (lenient handling). */
  readonly ignored: readonly string[];
  /** Accepted parameters in a stable order, for the self link (without `_cursor`). */
  readonly params: ReadonlyArray<readonly [string, string]>;
}

export type QueryInput = Readonly<Record<string, string | readonly string[] | undefined>>;

const bad = (message: string, expression?: string) =>
  new OperationOutcomeError(badRequest(message, expression));

const PRESENTATION = new Set(['_format', '_pretty']);
const MODIFIERS: Readonly<Record<string, readonly string[]>> = {
  string: ['exact', 'contains', 'missing'],
  token: ['not', 'text', 'missing'],
  reference: ['missing'],
  date: ['missing'],
  number: ['missing'],
  uri: ['missing', 'above', 'below'],
};
const ELEMENT_NAME = /^[a-z][A-Za-z0-9]*$/;
const NUMBER_VALUE = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?-?\d+(\.\d+)?([eE][+-]?\d+)?$/;
const INCLUDE_VALUE = /^([A-Z][A-Za-z]+):([a-z][a-z0-9-]*)(?::([A-Z][A-Za-z]+))?$/;

/**
 * A search parameter FHIR defines for the type. @medplum/core's lookup is a plain object index, so
 * `constructor` or `hasOwnProperty` would find Object.prototype members: those are unknown too.
 */
function definedParam(resourceType: string, code: string): SearchParameter | undefined {
  const definition = getSearchParameter(resourceType, code);
  return definition?.resourceType === 'SearchParameter' ? definition : undefined;
}

const DATE_VALUE = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?/;

/** Whether a date search value names a day that exists (`2020-02-30` does not); other format errors are @medplum/core's to report. */
function realDate(value: string): boolean {
  const m = DATE_VALUE.exec(value);
  if (!m) return true;
  const [, , year, month, day, hour, minute, second] = m;
  if (month !== undefined && (Number(month) < 1 || Number(month) > 12)) return false;
  if (day !== undefined && (Number(day) < 1 || Number(day) > new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate())) return false;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59)) return false;
  return true;
}

function values(input: string | readonly string[] | undefined): string[] {
  if (input === undefined) return [];
  return (typeof input === 'string' ? [input] : [...input]).filter((v) => v !== '');
}

function single(name: string, input: string | readonly string[] | undefined): string | undefined {
  const list = values(input);
  if (list.length > 1) throw bad(`${name} may be given only once`, name);
  return list[0];
}

function parseInclude(name: string, raw: string, reverse: boolean, resourceType: string): IncludeTarget {
  const value = raw.replace(/:iterate$/, '');
  const m = INCLUDE_VALUE.exec(value);
  if (!m) throw bad(`${name}=${raw} is not of the form Type:parameter[:TargetType] (\`*\` is not supported)`, name);
  const [, type, param, target] = m as unknown as [string, string, string, string | undefined];
  if (!reverse && type !== resourceType) throw bad(`${name}=${raw} must start with ${resourceType}`, name);
  const definition = definedParam(type, param);
  if (!definition || definition.type !== 'reference') throw bad(`${name}=${raw}: ${type} has no reference parameter ${param}`, name);
  return { resourceType: type, searchParam: param, targetType: target, modifier: raw.endsWith(':iterate') ? 'iterate' : undefined };
}

export interface ParseOptions {
  readonly strict: boolean;
}

export function parseFhirSearch(resourceType: string, query: QueryInput, options: ParseOptions): FhirSearch {
  loadFhirDefinitions();
  const ignored: string[] = [];
  const params: Array<[string, string]> = [];
  const filterQuery: Record<string, string[]> = {};
  let count = DEFAULT_COUNT;
  let sort: SortRule[] = [];
  let summary: SummaryMode | undefined;
  let elements: string[] | undefined;
  let total = true;
  let accurateTotal = false;
  let cursor: string | undefined;
  const include: IncludeTarget[] = [];
  const revInclude: IncludeTarget[] = [];

  for (const name of Object.keys(query).sort()) {
    const raw = query[name];
    const list = values(raw);
    if (list.length === 0) continue;
    switch (name) {
      case '_count': {
        const value = single(name, raw) as string;
        if (!/^\d{1,9}$/.test(value)) throw bad(`_count must be a whole number from 0 to ${MAX_COUNT}, got "${value.slice(0, 32)}"`, '_count');
        count = Math.min(Number(value), MAX_COUNT);
        params.push([name, String(count)]);
        continue;
      }
      case '_sort': {
        const value = single(name, raw) as string;
        sort = value.split(',').map((part) => {
          const descending = part.startsWith('-');
          const code = descending ? part.slice(1) : part;
          if (code !== '_id' && code !== '_lastUpdated' && !definedParam(resourceType, code)) {
            throw bad(`_sort: ${resourceType} has no search parameter "${code.slice(0, 64)}"`, '_sort');
          }
          return { code, descending };
        });
        params.push([name, value]);
        continue;
      }
      case '_summary': {
        const value = single(name, raw) as string;
        if (value === 'false') continue;
        if (value !== 'true' && value !== 'count' && value !== 'data' && value !== 'text') {
          throw bad('_summary must be one of true, false, count, data, text', '_summary');
        }
        summary = value;
        params.push([name, value]);
        continue;
      }
      case '_elements': {
        const names = list.join(',').split(',').map((s) => s.trim()).filter(Boolean);
        const wrong = names.find((n) => !ELEMENT_NAME.test(n));
        if (wrong !== undefined) throw bad(`_elements: "${wrong.slice(0, 64)}" is not an element name`, '_elements');
        elements = names;
        params.push([name, names.join(',')]);
        continue;
      }
      case '_total': {
        const value = single(name, raw) as string;
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw bad('_total must be none, estimate or accurate', '_total');
        total = value !== 'none';
        accurateTotal = value === 'accurate';
        params.push([name, value]);
        continue;
      }
      case '_include':
      case '_revinclude':
        for (const value of list) {
          (name === '_include' ? include : revInclude).push(parseInclude(name, value, name === '_revinclude', resourceType));
          params.push([name, value]);
        }
        continue;
      case '_cursor':
        cursor = single(name, raw);
        continue;
      default:
        break;
    }
    if (PRESENTATION.has(name)) continue;
    const code = name.split(':')[0] as string;
    if (code !== '_id' && code !== '_lastUpdated' && !definedParam(resourceType, code)) {
      if (options.strict) throw bad(`Unknown search parameter "${name.slice(0, 64)}" for ${resourceType}`, name);
      ignored.push(name);
      continue;
    }
    const definition = definedParam(resourceType, code);
    const modifier = name.includes(':') ? name.slice(name.indexOf(':') + 1) : undefined;
    if (modifier !== undefined) {
      const paramType = code === '_id' ? 'token' : code === '_lastUpdated' ? 'date' : (definition?.type as string);
      // A modifier the server does not understand must not be silently ignored (R4 search.html).
      const known = MODIFIERS[paramType] ?? ['missing'];
      const typeModifier = paramType === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier);
      if (!known.includes(modifier) && !typeModifier) throw bad(`${name.slice(0, 64)}: modifier :${modifier.slice(0, 32)} is not supported for ${paramType} parameters`, name);
      if (modifier === 'missing' && list.some((v) => v !== 'true' && v !== 'false')) throw bad(`${name}: :missing takes true or false`, name);
    }
    if (definition?.type === 'date' || code === '_lastUpdated') {
      for (const v of list.flatMap((x) => x.split(','))) {
        if (!realDate(v)) throw bad(`${name}: "${v.slice(0, 64)}" is not a real date`, name);
      }
    }
    if (definition?.type === 'number') {
      for (const v of list.flatMap((x) => x.split(','))) {
        if (!NUMBER_VALUE.test(v)) throw bad(`${name}: "${v.slice(0, 64)}" is not a number`, name);
      }
    }
    filterQuery[name] = list;
    for (const v of list) params.push([name, v]);
  }

  let filters: Filter[] = [];
  if (Object.keys(filterQuery).length > 0) {
    try {
      filters = parseSearchRequest(resourceType, filterQuery).filters ?? [];
    } catch (err) {
      if (err instanceof OperationOutcomeError) throw err;
      throw bad(`Invalid search: ${(err as Error).message}`);
    }
  }
  if (summary === 'count') {
    count = 0;
    accurateTotal = total;
  }
  return { resourceType, filters, sort, count, summary, elements, include, revInclude, total, accurateTotal, cursor, ignored, params };
}

/** The parts of a search that define its result set (not page size or presentation): cursors bind to this. */
export function normalizedSearch(base: string, search: FhirSearch): string {
  const defining = search.params.filter(([name]) => !['_count', '_elements', '_summary', '_total'].includes(name));
  return `${base}?${new URLSearchParams(defining.map(([k, v]) => [k, v])).toString()}`;
}
