/**
 * Turns one `SourceQuery` into SQL predicates (what the mapping pushes down) and in-memory
 * filters (the rest, evaluated afterwards with @medplum/core's `matchesSearchRequest`), plus
 * the sort order and the keyset position of the page.
 */
import { badRequest, getSearchParameter, OperationOutcomeError, Operator, splitSearchOnComma, type Filter, type SortRule } from '@medplum/core';
import { sql } from 'kysely';
import { loadFhirDefinitions } from '../fhir-definitions.ts';
import { dateBounds, parseSearchPeriod } from './fhir-date.ts';
import type { Expr, Pushdown, ResourceMapping } from './mapping.ts';
import { compileExpr, type CompileContext, type Fragment } from './sql-expr.ts';

/** Longest accepted search value (each comma-separated alternative); longer is a client error, never a database round trip. */
export const MAX_VALUE_LENGTH = 512;
/** Most comma-separated alternatives in one search value. */
export const MAX_ALTERNATIVES = 100;
/** NUL and other C0 controls: no FHIR value carries them, and PostgreSQL rejects NUL outright. */
export const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** Finds lookup keys for a token (`system|code`), e.g. concept ids by their reference terms. */
export type CodingResolver = (lookup: string, token: string) => Promise<readonly (string | number)[]>;

export interface SortKey {
  readonly expr: Fragment;
  readonly descending: boolean;
}

export interface SearchPlan {
  readonly where: Fragment[];
  readonly memoryFilters: Filter[];
  /** Sort keys, the row key last as the tie-breaker. */
  readonly order: SortKey[];
  /** Identifies the order so a page token is only accepted for the same order. */
  readonly orderSignature: string;
}

export async function planSearch(
  resourceType: string,
  mapping: ResourceMapping,
  filters: readonly Filter[],
  patients: readonly string[] | undefined,
  sortRules: readonly SortRule[] | undefined,
  ctx: CompileContext,
  resolveCoding: CodingResolver,
): Promise<SearchPlan> {
  const where: Fragment[] = [];
  const memoryFilters: Filter[] = [];
  const inMemory = new Set(mapping.searchInMemory ?? []);

  if (patients !== undefined && mapping.patient !== undefined) {
    where.push(inList(mapping.patient, patients.filter((p) => !CONTROL_CHARS.test(p)), ctx));
  }

  for (const filter of filters) {
    if (typeof filter.value !== 'string') throw new OperationOutcomeError(badRequest(`Invalid value for ${filter.code}`, filter.code));
    const alternatives = splitSearchOnComma(filter.value);
    if (alternatives.length > MAX_ALTERNATIVES) {
      throw new OperationOutcomeError(badRequest(`Too many alternatives for ${filter.code}`, filter.code));
    }
    if (alternatives.some((v) => v.length > MAX_VALUE_LENGTH)) {
      throw new OperationOutcomeError(badRequest(`Search value for ${filter.code} is too long`, filter.code));
    }
    if (CONTROL_CHARS.test(filter.value)) {
      throw new OperationOutcomeError(badRequest(`Search value for ${filter.code} contains control characters`, filter.code));
    }
    const pushdown = pushdownFor(mapping, filter.code);
    if (pushdown && !PRESENCE_OPERATORS.has(filter.operator)) {
      const fragment = await compileFilter(filter, pushdown, ctx, resolveCoding);
      if (!fragment) throw unsupportedOperator(filter);
      where.push(fragment);
      continue;
    }
    if (inMemory.has(filter.code) || pushdown) {
      if (!evaluatedInMemory(resourceType, filter)) throw unsupportedOperator(filter);
      memoryFilters.push(filter);
      continue;
    }
    throw new OperationOutcomeError(badRequest(`Unsupported search parameter ${filter.code} for ${resourceType}`, filter.code));
  }

  const order: SortKey[] = [];
  const signature: string[] = [];
  for (const rule of sortRules ?? []) {
    const code = rule.code;
    const sort = code === '_lastUpdated' ? { expr: mapping.lastUpdated, kind: 'date' as const } : code === '_id' ? { expr: mapping.id, kind: 'string' as const } : mapping.sort?.[code];
    if (!sort) throw new OperationOutcomeError(badRequest(`Unsupported sort parameter ${code} for ${resourceType}`, '_sort'));
    let expr = compileExpr(sort.expr, ctx);
    // Nulls sort first as the lowest value, so keyset comparisons never meet NULL.
    if ('nullable' in sort && sort.nullable) expr = sql`coalesce(${expr}, ${sort.kind === 'date' ? '0001-01-01' : ''})`;
    order.push({ expr, descending: rule.descending === true });
    signature.push(`${rule.descending ? '-' : ''}${code}`);
  }
  order.push({ expr: compileExpr(mapping.key, ctx), descending: false });
  return { where, memoryFilters, order, orderSignature: signature.join(',') };
}

/** `:missing` (and `:present`) are evaluated in memory on the mapped resources. */
const PRESENCE_OPERATORS: ReadonlySet<string> = new Set([Operator.MISSING, Operator.PRESENT]);

/**
 * Whether @medplum/core's in-memory evaluation gives this operator its FHIR meaning for the
 * parameter's type (it has no `:text`, `:in`, `:above`, …, and would answer them wrongly).
 */
function evaluatedInMemory(resourceType: string, filter: Filter): boolean {
  if (PRESENCE_OPERATORS.has(filter.operator)) return true;
  loadFhirDefinitions();
  switch (getSearchParameter(resourceType, filter.code)?.type) {
    case 'string':
      return filter.operator === Operator.EQUALS || filter.operator === Operator.CONTAINS || filter.operator === Operator.EXACT;
    case 'token':
      return filter.operator === Operator.EQUALS || filter.operator === Operator.NOT;
    case 'date':
      return DATE_OPERATORS.has(filter.operator);
    default:
      return filter.operator === Operator.EQUALS;
  }
}

function unsupportedOperator(filter: Filter): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(`Unsupported modifier or prefix "${String(filter.operator)}" for ${filter.code}`, filter.code));
}

function pushdownFor(mapping: ResourceMapping, code: string): Pushdown | undefined {
  if (code === '_id') return { kind: 'token', expr: mapping.id };
  if (code === '_lastUpdated') return { kind: 'date', expr: mapping.lastUpdated, precision: 'second' };
  if ((code === 'patient' || code === 'subject') && mapping.patient !== undefined && !mapping.search[code]) {
    return { kind: 'reference', expr: mapping.patient, target: 'Patient' };
  }
  return mapping.search[code];
}

/** The SQL predicate for one filter, or `undefined` when this operator must be evaluated in memory. */
async function compileFilter(
  filter: Filter,
  pushdown: Pushdown,
  ctx: CompileContext,
  resolveCoding: CodingResolver,
): Promise<Fragment | undefined> {
  const alternatives = splitSearchOnComma(filter.value);
  const expr = compileExpr(pushdown.expr, ctx);
  switch (pushdown.kind) {
    case 'date': {
      const negated = filter.operator === Operator.NOT_EQUALS;
      if (!DATE_OPERATORS.has(filter.operator)) return undefined;
      const ranges = alternatives.map((v) => {
        const bounds = dateBounds(filter.operator, parseSearchPeriod(v, filter.code), pushdown.precision, ctx.clock);
        const parts: Fragment[] = [];
        if (bounds.atLeast !== undefined) parts.push(sql`${expr} >= ${bounds.atLeast}`);
        if (bounds.below !== undefined) parts.push(sql`${expr} < ${bounds.below}`);
        return sql`(${sql.join(parts, sql` and `)})`;
      });
      const any = sql`(${sql.join(ranges, sql` or `)})`;
      return negated ? sql`(${expr} is null or not ${any})` : any;
    }
    case 'token':
    case 'reference':
    case 'coding': {
      if (filter.operator !== Operator.EQUALS && filter.operator !== Operator.NOT) return undefined;
      const values: (string | number)[] = [];
      let anyValue = false;
      for (const alternative of alternatives) {
        const matched = await tokenValues(pushdown, alternative, resolveCoding);
        if (matched === ANY_VALUE) anyValue = true;
        else values.push(...matched);
      }
      // Coding keys come from the database itself; other values are compared exactly (ids and codes are case-sensitive).
      const matches = anyValue
        ? sql`${expr} is not null`
        : values.length === 0
          ? sql`1 = 0`
          : pushdown.kind === 'coding'
            ? sql`${expr} in (${sql.join(values.map((v) => sql`${v}`))})`
            : ctx.exactIn(expr, values);
      return filter.operator === Operator.NOT ? sql`(${expr} is null or not (${matches}))` : matches;
    }
  }
}

const DATE_OPERATORS: ReadonlySet<string> = new Set([
  Operator.EQUALS,
  Operator.NOT_EQUALS,
  Operator.APPROXIMATELY,
  Operator.LESS_THAN,
  Operator.GREATER_THAN,
  Operator.LESS_THAN_OR_EQUALS,
  Operator.GREATER_THAN_OR_EQUALS,
  Operator.STARTS_AFTER,
  Operator.ENDS_BEFORE,
]);

/** `system|` on an element without a code table: any value the expression has. */
const ANY_VALUE = Symbol('any value');

/**
 * The database values one token alternative matches (an empty list matches nothing), or
 * `ANY_VALUE`. Systems and codes match exactly; FHIR codes and ids never carry surrounding
 * whitespace, so such a value matches nothing (whatever the database's padding rules).
 */
async function tokenValues(pushdown: Pushdown, value: string, resolveCoding: CodingResolver): Promise<(string | number)[] | typeof ANY_VALUE> {
  switch (pushdown.kind) {
    case 'coding':
      return [...(await resolveCoding(pushdown.lookup, value))];
    case 'reference': {
      const slash = value.lastIndexOf('/');
      const id = value.slice(slash + 1);
      if (id === '' || id !== id.trim()) return [];
      if (slash < 0) return [id];
      return value.slice(0, slash) === pushdown.target || value.slice(0, slash).endsWith(`/${pushdown.target}`) ? [id] : [];
    }
    case 'token': {
      let code = value;
      const bar = value.indexOf('|');
      if (bar >= 0) {
        const system = value.slice(0, bar);
        code = value.slice(bar + 1);
        // `|code` means "no system"; `system|code` must name the element's system.
        if (system === '' ? pushdown.system !== undefined : system !== pushdown.system) return [];
        if (code === '') return pushdown.codes ? Object.values(pushdown.codes).flat() : ANY_VALUE;
      }
      if (code === '' || code !== code.trim()) return [];
      if (!pushdown.codes) return [code];
      return Object.hasOwn(pushdown.codes, code) ? [...(pushdown.codes[code] ?? [])] : [];
    }
    default:
      return [];
  }
}

function inList(expr: Expr, values: readonly string[], ctx: CompileContext): Fragment {
  if (values.length === 0) return sql`1 = 0`;
  return ctx.exactIn(compileExpr(expr, ctx), values);
}

/** `(k1, k2, …) after (v1, v2, …)` in the plan's order, written without row-value syntax. */
export function keysetAfter(order: readonly SortKey[], values: readonly unknown[]): Fragment {
  const branches: Fragment[] = [];
  for (let i = 0; i < order.length; i++) {
    const parts: Fragment[] = [];
    for (let j = 0; j < i; j++) parts.push(sql`${(order[j] as SortKey).expr} = ${values[j]}`);
    const key = order[i] as SortKey;
    parts.push(key.descending ? sql`${key.expr} < ${values[i]}` : sql`${key.expr} > ${values[i]}`);
    branches.push(sql`(${sql.join(parts, sql` and `)})`);
  }
  return sql`(${sql.join(branches, sql` or `)})`;
}

/** The opaque page token: the order it belongs to and the last row's sort values. */
export function encodePageToken(signature: string, values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify({ o: signature, k: values.map(plainValue) }), 'utf8').toString('base64url');
}

export function decodePageToken(token: string, signature: string, length: number): unknown[] {
  const invalid = (): OperationOutcomeError => new OperationOutcomeError(badRequest('Invalid page token'));
  if (token.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid();
  const { o, k } = parsed as { o?: unknown; k?: unknown };
  if (o !== signature || !Array.isArray(k) || k.length !== length) throw invalid();
  if (!k.every((v) => v === null || typeof v === 'string' || typeof v === 'number')) throw invalid();
  return k;
}

function plainValue(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  return String(v);
}
