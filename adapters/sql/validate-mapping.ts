/**
 * Refuses a mapping that is not made only of the declarative pieces `mapping.ts` defines. The
 * input may come from a JSON file, so nothing about its shape is trusted: every node must be a
 * known kind with the right types and no extra keys, every table, alias and column a plain
 * identifier, every alias declared in the row source that uses it, every field a template reads
 * selected. A mapping therefore cannot smuggle SQL text (a write, a second statement, a
 * comment) into a query, and the adapter refuses to start otherwise, naming each problem.
 */
import { getSearchParameter } from '@medplum/core';
import { loadFhirDefinitions } from '../fhir-definitions.ts';
import type { SqlMapping } from './mapping.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Most problems listed in the one-line refusal. */
const MAX_LISTED = 12;

export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

type Node = Readonly<Record<string, unknown>>;
type Aliases = ReadonlySet<string>;
type Lookups = ReadonlyMap<string, Node>;

export function validateMapping(mapping: unknown): asserts mapping is SqlMapping {
  const problems: string[] = [];
  const v = new Checker(problems);
  const root = v.node(mapping, 'mapping', ['name', 'resources', 'lookups'], ['name', 'resources']);
  const name = typeof root?.name === 'string' && root.name !== '' ? root.name : '(unnamed)';
  if (root) {
    if (typeof root.name !== 'string' || root.name === '') problems.push('name: must be a non-empty string');
    const lookups = new Map<string, Node>();
    for (const [key, lookup] of v.record(root.lookups, 'lookups')) {
      const node = v.lookup(lookup, `lookups.${key}`);
      if (node) lookups.set(key, node);
    }
    const resources = v.record(root.resources, 'resources');
    if (root.resources !== undefined && resources.length === 0) problems.push('resources: maps no resource type');
    for (const [type, resource] of resources) {
      if (!/^[A-Z][A-Za-z]{1,63}$/.test(type)) problems.push(`resources.${type}: not a FHIR resource type`);
      v.resource(type, resource, `resources.${type}`, lookups);
    }
  }
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_LISTED).join('; ');
    const more = problems.length > MAX_LISTED ? `; and ${problems.length - MAX_LISTED} more` : '';
    throw new MappingError(`mapping ${name} refused: ${listed}${more}`);
  }
}

class Checker {
  readonly #problems: string[];

  constructor(problems: string[]) {
    this.#problems = problems;
  }

  #fail(where: string, message: string): void {
    this.#problems.push(`${where}: ${message}`);
  }

  /** A plain object with only `allowed` keys and all `required` ones; `undefined` otherwise. */
  node(value: unknown, where: string, allowed: readonly string[], required: readonly string[] = []): Node | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.#fail(where, 'must be an object');
      return undefined;
    }
    const node = value as Node;
    for (const key of Object.keys(node)) if (!allowed.includes(key)) this.#fail(where, `unexpected key ${JSON.stringify(key)}`);
    for (const key of required) if (node[key] === undefined) this.#fail(where, `${key} is required`);
    return node;
  }

  /** Entries of an optional `{ name: value }` object. */
  record(value: unknown, where: string): [string, unknown][] {
    if (value === undefined) return [];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.#fail(where, 'must be an object');
      return [];
    }
    return Object.entries(value);
  }

  /** Items of an optional list. */
  list(value: unknown, where: string): unknown[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.#fail(where, 'must be a list');
      return [];
    }
    return value;
  }

  string(value: unknown, where: string): value is string {
    if (typeof value === 'string' && value !== '') return true;
    this.#fail(where, 'must be a non-empty string');
    return false;
  }

  strings(value: unknown, where: string): string[] {
    return this.list(value, where).filter((x, i): x is string => this.string(x, `${where}[${i}]`));
  }

  oneOf(value: unknown, options: readonly string[], where: string): void {
    if (typeof value !== 'string' || !options.includes(value)) this.#fail(where, `must be one of ${options.join(', ')}`);
  }

  /** `from`, `joins` and `where` of a row source; returns its aliases. */
  tables(s: Node, where: string): Aliases {
    const declared = new Set<string>();
    const table = (t: unknown, at: string, join: boolean): void => {
      const ref = join ? this.node(t, at, ['table', 'as', 'type', 'on'], ['table', 'as', 'type', 'on']) : this.node(t, at, ['table', 'as'], ['table', 'as']);
      if (!ref) return;
      if (typeof ref.table !== 'string' || !IDENT.test(ref.table)) this.#fail(at, `table ${JSON.stringify(ref.table)} is not an identifier`);
      if (typeof ref.as !== 'string' || !IDENT.test(ref.as)) return this.#fail(at, `alias ${JSON.stringify(ref.as)} is not an identifier`);
      if (declared.has(ref.as)) this.#fail(at, `alias ${ref.as} declared twice`);
      declared.add(ref.as);
      if (join) {
        this.oneOf(ref.type, ['inner', 'left'], `${at}.type`);
        // A join condition may only name the tables declared so far.
        this.list(ref.on, `${at}.on`).forEach((c, i) => this.cond(c, new Set(declared), `${at}.on[${i}]`));
      }
    };
    table(s.from, `${where}.from`, false);
    this.list(s.joins, `${where}.joins`).forEach((j, i) => table(j, `${where}.joins[${i}]`, true));
    this.list(s.where, `${where}.where`).forEach((c, i) => this.cond(c, declared, `${where}.where[${i}]`));
    return declared;
  }

  /** Selected names, each an identifier not reserved for the adapter's own columns. */
  select(value: unknown, aliases: Aliases, where: string): Set<string> {
    const names = new Set<string>();
    const entries = this.record(value, where);
    if (value !== undefined && entries.length === 0) this.#fail(where, 'selects nothing');
    for (const [name, e] of entries) {
      if (!IDENT.test(name) || name.startsWith('__')) this.#fail(where, `${JSON.stringify(name)} is not an identifier (or starts with __)`);
      this.expr(e, aliases, `${where}.${name}`);
      names.add(name);
    }
    return names;
  }

  column(ref: string, aliases: Aliases, where: string): void {
    const parts = ref.split('.');
    if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) this.#fail(where, `${JSON.stringify(ref)} is not a column reference`);
    else if (parts.length === 2 && !aliases.has(parts[0] as string)) this.#fail(where, `alias ${parts[0]} is not declared`);
  }

  expr(e: unknown, aliases: Aliases, where: string): void {
    if (typeof e === 'string') return this.column(e, aliases, where);
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return this.#fail(where, 'not an expression');
    const n = e as Node;
    if ('col' in n) {
      this.node(n, where, ['col']);
      return typeof n.col === 'string' ? this.column(n.col, aliases, where) : this.#fail(where, 'col must be a column reference');
    }
    if ('lit' in n) {
      this.node(n, where, ['lit']);
      const ok = n.lit === null || typeof n.lit === 'string' || typeof n.lit === 'boolean' || (typeof n.lit === 'number' && Number.isFinite(n.lit));
      if (!ok) this.#fail(where, 'lit must be a string, finite number, boolean or null');
      return;
    }
    if ('now' in n) {
      this.node(n, where, ['now']);
      if (n.now !== true) this.#fail(where, 'now must be true');
      return;
    }
    for (const key of ['coalesce', 'greatest'] as const) {
      if (key in n) {
        this.node(n, where, [key]);
        const items = this.list(n[key], `${where}.${key}`);
        if (items.length === 0) this.#fail(where, `${key} needs at least one expression`);
        return items.forEach((x, i) => this.expr(x, aliases, `${where}.${key}[${i}]`));
      }
    }
    if ('case' in n) {
      this.node(n, where, ['case', 'else']);
      if (n.else !== undefined && n.else !== null && typeof n.else !== 'string') this.#fail(`${where}.else`, 'must be a string or null');
      const branches = this.list(n.case, `${where}.case`);
      if (branches.length === 0) this.#fail(where, 'case needs at least one branch');
      return branches.forEach((b, i) => {
        const branch = this.node(b, `${where}.case[${i}]`, ['when', 'then'], ['when', 'then']);
        if (!branch) return;
        if (typeof branch.then !== 'string') this.#fail(`${where}.case[${i}].then`, 'must be a string');
        this.list(branch.when, `${where}.case[${i}].when`).forEach((c, j) => this.cond(c, aliases, `${where}.case[${i}].when[${j}]`));
      });
    }
    this.#fail(where, `unknown expression ${JSON.stringify(Object.keys(n))}`);
  }

  cond(c: unknown, aliases: Aliases, where: string): void {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) return this.#fail(where, 'not a condition');
    const n = c as Node;
    if ('cmp' in n) {
      this.node(n, where, ['cmp']);
      if (!Array.isArray(n.cmp) || n.cmp.length !== 3) return this.#fail(where, 'cmp must be [expression, operator, expression]');
      const [l, op, r] = n.cmp as unknown[];
      if (typeof op !== 'string' || !['=', '<>', '<', '<=', '>', '>='].includes(op)) this.#fail(where, `operator ${JSON.stringify(op)}`);
      this.expr(l, aliases, `${where}.cmp[0]`);
      return this.expr(r, aliases, `${where}.cmp[2]`);
    }
    for (const key of ['isNull', 'notNull'] as const) {
      if (key in n) {
        this.node(n, where, [key]);
        return this.expr(n[key], aliases, `${where}.${key}`);
      }
    }
    for (const key of ['in', 'notIn'] as const) {
      if (key in n) {
        this.node(n, where, [key, 'values'], [key, 'values']);
        this.expr(n[key], aliases, `${where}.${key}`);
        const values = this.list(n.values, `${where}.values`);
        if (!values.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))) this.#fail(`${where}.values`, 'must be strings or numbers');
        return;
      }
    }
    for (const key of ['and', 'or'] as const) {
      if (key in n) {
        this.node(n, where, [key]);
        return this.list(n[key], `${where}.${key}`).forEach((x, i) => this.cond(x, aliases, `${where}.${key}[${i}]`));
      }
    }
    if ('not' in n) {
      this.node(n, where, ['not']);
      return this.cond(n.not, aliases, `${where}.not`);
    }
    this.#fail(where, `unknown condition ${JSON.stringify(Object.keys(n))}`);
  }

  /** Children of a resource or lookup; returns their selected fields by name. */
  children(value: unknown, parentFields: ReadonlySet<string>, where: string): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const [name, child] of this.record(value, `${where}.children`)) {
      const at = `${where}.children.${name}`;
      const c = this.node(child, at, ['from', 'joins', 'where', 'select', 'parentKey', 'orderBy', 'onlyWhere'], ['from', 'select', 'parentKey', 'orderBy']);
      if (!c) continue;
      const aliases = this.tables(c, at);
      out.set(name, this.select(c.select, aliases, `${at}.select`));
      this.expr(c.parentKey, aliases, `${at}.parentKey`);
      this.list(c.orderBy, `${at}.orderBy`).forEach((e, i) => this.expr(e, aliases, `${at}.orderBy[${i}]`));
      if (c.onlyWhere !== undefined && (typeof c.onlyWhere !== 'string' || !parentFields.has(c.onlyWhere))) {
        this.#fail(`${at}.onlyWhere`, 'must name a field the parent selects');
      }
    }
    return out;
  }

  lookup(value: unknown, where: string): Node | undefined {
    const l = this.node(value, where, ['from', 'joins', 'where', 'select', 'key', 'children', 'codingIndex'], ['from', 'select', 'key']);
    if (!l) return undefined;
    const aliases = this.tables(l, where);
    const fields = this.select(l.select, aliases, `${where}.select`);
    this.expr(l.key, aliases, `${where}.key`);
    this.children(l.children, fields, where);
    this.list(l.codingIndex, `${where}.codingIndex`).forEach((index, i) => {
      const at = `${where}.codingIndex[${i}]`;
      const x = this.node(index, at, ['from', 'joins', 'where', 'key', 'code', 'system'], ['from', 'key', 'code']);
      if (!x) return;
      const indexAliases = this.tables(x, at);
      this.expr(x.key, indexAliases, `${at}.key`);
      this.expr(x.code, indexAliases, `${at}.code`);
      if (x.system === undefined) return;
      const system = this.node(x.system, `${at}.system`, ['expr', 'systems'], ['expr', 'systems']);
      if (!system) return;
      this.expr(system.expr, indexAliases, `${at}.system.expr`);
      for (const [dbValue, url] of this.record(system.systems, `${at}.system.systems`)) this.string(url, `${at}.system.systems.${dbValue}`);
    });
    return l;
  }

  resource(type: string, value: unknown, where: string, lookups: Lookups): void {
    const r = this.node(
      value,
      where,
      ['from', 'joins', 'where', 'select', 'key', 'id', 'lastUpdated', 'patient', 'children', 'resource', 'search', 'searchInMemory', 'sort'],
      ['from', 'select', 'key', 'id', 'lastUpdated', 'resource', 'search'],
    );
    if (!r) return;
    const aliases = this.tables(r, where);
    const fields = this.select(r.select, aliases, `${where}.select`);
    for (const k of ['key', 'id', 'lastUpdated', 'patient'] as const) if (r[k] !== undefined) this.expr(r[k], aliases, `${where}.${k}`);
    const children = this.children(r.children, fields, where);
    for (const [code, p] of this.record(r.search, `${where}.search`)) this.pushdown(p, aliases, lookups, `${where}.search.${code}`);
    const inMemory = this.strings(r.searchInMemory, `${where}.searchInMemory`);
    if (inMemory.length > 0) {
      // @medplum/core evaluates these, and matches nothing for a parameter it does not know.
      loadFhirDefinitions();
      for (const code of inMemory) if (!getSearchParameter(type, code)) this.#fail(`${where}.searchInMemory`, `${code} is not a ${type} search parameter`);
    }
    for (const [code, s] of this.record(r.sort, `${where}.sort`)) {
      const sort = this.node(s, `${where}.sort.${code}`, ['expr', 'nullable', 'kind'], ['expr', 'kind']);
      if (!sort) continue;
      this.expr(sort.expr, aliases, `${where}.sort.${code}.expr`);
      this.oneOf(sort.kind, ['date', 'string'], `${where}.sort.${code}.kind`);
      if (sort.nullable !== undefined && typeof sort.nullable !== 'boolean') this.#fail(`${where}.sort.${code}.nullable`, 'must be a boolean');
    }
    if (typeof r.resource !== 'object' || r.resource === null || !('object' in r.resource)) this.#fail(`${where}.resource`, 'must be an object template');
    this.template(r.resource, { fields, children, lookups, inLookup: false }, `${where}.resource`);
  }

  pushdown(value: unknown, aliases: Aliases, lookups: Lookups, where: string): void {
    const kind = typeof value === 'object' && value !== null ? (value as Node).kind : undefined;
    switch (kind) {
      case 'date': {
        const p = this.node(value, where, ['kind', 'expr', 'precision'], ['expr', 'precision']);
        if (p) this.oneOf(p.precision, ['date', 'second'], `${where}.precision`);
        break;
      }
      case 'token': {
        const p = this.node(value, where, ['kind', 'expr', 'system', 'codes'], ['expr']);
        if (p?.system !== undefined) this.string(p.system, `${where}.system`);
        for (const [code, dbValues] of this.record(p?.codes, `${where}.codes`)) {
          const list = this.list(dbValues, `${where}.codes.${code}`);
          if (!list.every((x) => typeof x === 'string' || typeof x === 'number')) this.#fail(`${where}.codes.${code}`, 'must list strings or numbers');
        }
        break;
      }
      case 'coding': {
        const p = this.node(value, where, ['kind', 'expr', 'lookup'], ['expr', 'lookup']);
        if (p && (typeof p.lookup !== 'string' || lookups.get(p.lookup)?.codingIndex === undefined)) {
          this.#fail(where, `lookup ${String(p.lookup)} has no codingIndex`);
        }
        break;
      }
      case 'reference': {
        const p = this.node(value, where, ['kind', 'expr', 'target'], ['expr', 'target']);
        if (p) this.string(p.target, `${where}.target`);
        break;
      }
      default:
        return this.#fail(where, 'unknown pushdown kind (date, token, coding, reference)');
    }
    this.expr((value as Node).expr, aliases, `${where}.expr`);
  }

  /**
   * A template over a row of `fields`. Inside a lookup's item the row is a dictionary entry:
   * the adapter fetches lookups for resource and child rows only, so a lookup there is refused.
   */
  template(value: unknown, scope: TemplateScope, where: string): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.#fail(where, 'not a template');
    const t = value as Node;
    const field = (name: unknown, at: string): void => {
      if (typeof name !== 'string' || !scope.fields.has(name)) this.#fail(at, `field ${String(name)} is not selected`);
    };
    const sub = (x: unknown, at: string, inner: TemplateScope = scope): void => this.template(x, inner, at);
    if ('ref' in t) {
      this.node(t, where, ['ref', 'field', 'display'], ['field']);
      this.string(t.ref, `${where}.ref`);
      field(t.field, where);
      if (t.display !== undefined) sub(t.display, `${where}.display`);
      return;
    }
    if ('field' in t) {
      this.node(t, where, ['field', 'as']);
      field(t.field, where);
      if (t.as !== undefined) this.oneOf(t.as, ['string', 'code', 'date', 'dateTime', 'instant', 'boolean', 'decimal', 'integer'], `${where}.as`);
      return;
    }
    if ('const' in t) return void this.node(t, where, ['const']);
    if ('object' in t) {
      this.node(t, where, ['object', 'requires', 'requiresAny', 'choice']);
      for (const [k, x] of this.record(t.object, `${where}.object`)) sub(x, `${where}.${k}`);
      this.strings(t.requires, `${where}.requires`);
      this.strings(t.requiresAny, `${where}.requiresAny`);
      for (const [i, group] of this.list(t.choice, `${where}.choice`).entries()) {
        for (const [k, x] of this.record(group, `${where}.choice[${i}]`)) sub(x, `${where}.${k}`);
      }
      return;
    }
    if ('join' in t) {
      this.node(t, where, ['join', 'separator']);
      if (t.separator !== undefined && typeof t.separator !== 'string') this.#fail(`${where}.separator`, 'must be a string');
      return this.list(t.join, `${where}.join`).forEach((x, i) => sub(x, `${where}[${i}]`));
    }
    for (const key of ['array', 'firstOf'] as const) {
      if (key in t) {
        this.node(t, where, [key]);
        return this.list(t[key], `${where}.${key}`).forEach((x, i) => sub(x, `${where}[${i}]`));
      }
    }
    for (const key of ['each', 'first'] as const) {
      if (key in t) {
        this.node(t, where, [key, 'item'], ['item']);
        const name = t[key];
        const fields = typeof name === 'string' ? scope.children.get(name) : undefined;
        if (!fields) return this.#fail(where, `no child ${String(name)} here`);
        // A child row has no children of its own.
        return sub(t.item, `${where}.${name as string}`, { ...scope, fields, children: new Map() });
      }
    }
    if ('lookup' in t) {
      this.node(t, where, ['lookup', 'key', 'item'], ['key', 'item']);
      if (scope.inLookup) return this.#fail(where, 'a lookup inside a lookup item is not fetched; select the key in the resource or child row instead');
      field(t.key, where);
      const lookup = typeof t.lookup === 'string' ? scope.lookups.get(t.lookup) : undefined;
      if (!lookup) return this.#fail(where, `no lookup ${String(t.lookup)}`);
      const fields = new Set(Object.keys((lookup.select as Node | undefined) ?? {}));
      const children = new Map<string, Set<string>>();
      for (const [name, child] of Object.entries((lookup.children as Node | undefined) ?? {})) {
        children.set(name, new Set(Object.keys(((child as Node | undefined)?.select as Node | undefined) ?? {})));
      }
      return sub(t.item, `${where}.${t.lookup as string}`, { fields, children, lookups: scope.lookups, inLookup: true });
    }
    if ('map' in t) {
      this.node(t, where, ['map', 'values', 'otherwise']);
      field(t.map, where);
      this.record(t.values, `${where}.values`);
      return;
    }
    if ('if' in t) {
      this.node(t, where, ['if', 'then', 'else'], ['then']);
      field(t.if, where);
      sub(t.then, `${where}.then`);
      if (t.else !== undefined) sub(t.else, `${where}.else`);
      return;
    }
    this.#fail(where, `unknown template ${JSON.stringify(Object.keys(t))}`);
  }
}

interface TemplateScope {
  readonly fields: ReadonlySet<string>;
  readonly children: ReadonlyMap<string, ReadonlySet<string>>;
  readonly lookups: Lookups;
  readonly inLookup: boolean;
}
