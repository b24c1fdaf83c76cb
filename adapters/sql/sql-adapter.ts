/**
 * The SQL adapter: answers FHIR reads and searches from an EHR's own database through a
 * declarative `SqlMapping`, on a read-only connection. Per page it runs one keyset-paged query
 * for the resources' rows, one batched query per child collection and per missing dictionary
 * entry (cached), renders the FHIR JSON and applies whatever the database could not evaluate.
 */
import { badRequest, matchesSearchRequest, OperationOutcomeError, type Filter } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { sql } from 'kysely';
import type { EhrAdapter, SourceCapabilities, SourceHealth, SourcePage, SourceQuery } from '../ehr-adapter.ts';
import { SourceUnavailableError } from '../ehr-adapter.ts';
import { nowColumnValue } from './fhir-date.ts';
import { CompiledParts } from './compiled-parts.ts';
import type { ChildMapping, LookupMapping, ResourceMapping, RowSource, SqlMapping, Template } from './mapping.ts';
import { CONTROL_CHARS, decodePageToken, encodePageToken, keysetAfter, MAX_VALUE_LENGTH, planSearch, type SearchPlan } from './search-plan.ts';
import type { SqlConnection } from './sql-connection.ts';
import { compileAnd, compileExpr, compileFrom, compileSelect, type CompileContext, type Fragment } from './sql-expr.ts';
import { TemplateRenderer, truthy, type Row, type Scope } from './template.ts';
import { withStatementSignal } from './statement-cancel.ts';
import { validateMapping } from './validate-mapping.ts';
import { WallClock } from './wall-clock.ts';

export interface SqlAdapterOptions {
  readonly sourceId: string;
  readonly connection: SqlConnection;
  readonly mapping: SqlMapping;
  /** Most rows one search call reads while in-memory filters reject them; it then returns a short page with `next`. */
  readonly maxScanRows?: number;
  /** Dictionary entries kept per lookup. */
  readonly lookupCacheSize?: number;
  /** IANA time zone of the database's date-time columns (OpenMRS: the server JVM's). Default UTC. */
  readonly timeZone?: string;
}

const MAX_COUNT = 1000;
/** `meta.lastUpdated` from the row's `__updated`, one template object for every row. */
const LAST_UPDATED: Template = { field: '__updated', as: 'instant' };
/**
 * How long dictionary rows (concept names, codings) and resolved codes (token → concept ids)
 * are reused; edits to the dictionary show up after at most this.
 */
const CODING_CACHE_MS = 5 * 60_000;

interface LookupEntry {
  readonly row: Row;
  readonly children: Readonly<Record<string, readonly Row[]>>;
  readonly at: number;
}

export class SqlAdapter implements EhrAdapter {
  readonly sourceId: string;
  readonly evaluatesSearchItself = true;
  readonly #conn: SqlConnection;
  readonly #mapping: SqlMapping;
  readonly #maxScanRows: number;
  readonly #cacheSize: number;
  readonly #clock: WallClock;
  readonly #lookupCache = new Map<string, Map<string, LookupEntry>>();
  /** Which (lookup, field) pairs each template reads, by row context. */
  readonly #lookupUses = new Map<Template, LookupUse[]>();
  /** Token → lookup keys (e.g. `http://loinc.org|8480-6` → concept ids): dictionaries change rarely. */
  readonly #codingCache = new Map<string, { readonly keys: (string | number)[]; readonly at: number }>();
  /** Select lists, FROMs and the mapping's own conditions, compiled once. */
  readonly #parts = new CompiledParts();
  readonly #templates = new TemplateRenderer();

  /** Validates the mapping and proves the session is read-only before serving anything. */
  static async open(options: SqlAdapterOptions): Promise<SqlAdapter> {
    validateMapping(options.mapping);
    await options.connection.assertReadOnly();
    return new SqlAdapter(options);
  }

  private constructor(options: SqlAdapterOptions) {
    this.sourceId = options.sourceId;
    this.#conn = options.connection;
    this.#mapping = options.mapping;
    this.#maxScanRows = options.maxScanRows ?? 5000;
    this.#cacheSize = options.lookupCacheSize ?? 20_000;
    this.#clock = new WallClock(options.timeZone ?? 'UTC');
  }

  capabilities(): SourceCapabilities {
    const resources: Record<string, { searchParams: string[] }> = {};
    for (const [type, m] of Object.entries(this.#mapping.resources)) {
      const params = new Set(['_id', '_lastUpdated', ...Object.keys(m.search), ...(m.searchInMemory ?? [])]);
      // The compartment parameter (the planner normally turns it into `patients`).
      if (m.patient !== undefined && type !== 'Patient') params.add('patient');
      resources[type] = { searchParams: [...params] };
    }
    return { resources };
  }

  async read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined> {
    const mapping = this.#mapping.resources[resourceType];
    if (!mapping || CONTROL_CHARS.test(id) || id.length > MAX_VALUE_LENGTH || id === '' || id !== id.trim()) return undefined;
    const ctx = this.#context();
    const where = [ctx.exactIn(compileExpr(mapping.id, ctx), [id])];
    const rows = await this.#guard(signal, () => this.#selectRows(mapping, where, [], 1, ctx));
    const [resource] = await this.#guard(signal, () => this.#build(resourceType, mapping, rows));
    return resource;
  }

  async search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage> {
    const mapping = this.#mapping.resources[query.resourceType];
    if (!mapping) throw new OperationOutcomeError(badRequest(`Unsupported resource type ${query.resourceType}`));
    const count = Math.max(0, Math.min(Math.trunc(query.count), MAX_COUNT));
    const ctx = this.#context();
    const plan = await this.#guard(signal, () =>
      planSearch(query.resourceType, mapping, query.filters, query.patients, query.sort, ctx, (lookup, token) =>
        this.#resolveCoding(lookup, token, ctx),
      ),
    );
    let after = query.page === undefined ? undefined : decodePageToken(query.page, plan.orderSignature, plan.order.length);

    const total =
      query.total && plan.memoryFilters.length === 0 ? await this.#guard(signal, () => this.#count(mapping, plan, ctx)) : undefined;
    if (count === 0) return total === undefined ? { resources: [] } : { resources: [], total };

    const resources: Resource[] = [];
    let scanned = 0;
    let next: string | undefined;
    // Read one row more than needed: its presence says whether a next page exists.
    for (;;) {
      signal.throwIfAborted();
      const wanted = count - resources.length;
      const limit = plan.memoryFilters.length === 0 ? wanted + 1 : Math.min(Math.max(wanted * 2, 50), MAX_COUNT) + 1;
      const where = after === undefined ? plan.where : [...plan.where, keysetAfter(plan.order, after)];
      const rows = await this.#guard(signal, () => this.#selectRows(mapping, where, plan.order, limit, ctx));
      const more = rows.length === limit;
      const batch = more ? rows.slice(0, limit - 1) : rows;
      const built = await this.#guard(signal, () => this.#build(query.resourceType, mapping, batch));
      let stoppedAt = batch.length;
      for (let i = 0; i < batch.length; i++) {
        const resource = built[i] as Resource;
        if (plan.memoryFilters.length === 0 || matchesFilters(resource, plan.memoryFilters)) {
          resources.push(resource);
          if (resources.length === count) {
            stoppedAt = i + 1;
            break;
          }
        }
      }
      scanned += stoppedAt;
      const last = batch[stoppedAt - 1];
      if (last) after = sortValues(last, plan.order.length);
      const exhausted = !more && stoppedAt === batch.length;
      if (exhausted) break;
      if (resources.length === count || scanned >= this.#maxScanRows) {
        next = after === undefined ? undefined : encodePageToken(plan.orderSignature, after);
        break;
      }
    }
    const page: { resources: Resource[]; total?: number; next?: string } = { resources };
    if (total !== undefined) page.total = total;
    if (next !== undefined) page.next = next;
    return page;
  }

  async health(signal: AbortSignal): Promise<SourceHealth> {
    const checkedAt = new Date().toISOString();
    try {
      await this.#guard(signal, () => sql`select 1 as ok`.execute(this.#conn.db));
      return { status: 'up', checkedAt };
    } catch (err) {
      return { status: 'down', detail: err instanceof Error ? err.message : String(err), checkedAt };
    }
  }

  async close(): Promise<void> {
    this.#lookupCache.clear();
    this.#codingCache.clear();
    await this.#conn.close();
  }

  #context(): CompileContext {
    return { now: nowColumnValue(this.#clock), clock: this.#clock, bool: this.#conn.bool, exactIn: this.#conn.exactIn };
  }

  /**
   * Runs the queries of `work` so that an abort cancels the running statement; database
   * failures become `SourceUnavailableError`, client errors pass through.
   */
  async #guard<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    try {
      return await withStatementSignal(signal, work);
    } catch (err) {
      // An aborted search fails with its abort reason, not with the cancelled statement's error.
      if (signal.aborted) throw signal.reason;
      if (err instanceof OperationOutcomeError) throw err;
      throw new SourceUnavailableError(this.sourceId, 'SQL source query failed', { cause: err });
    }
  }

  async #selectRows(mapping: ResourceMapping, where: readonly Fragment[], order: SearchPlan['order'], limit: number, ctx: CompileContext): Promise<Row[]> {
    const sortCols = order.map((o, i) => sql`${o.expr} as ${sql.id(`__s${i}`)}`);
    const columns = [
      this.#parts.get(mapping, 'columns', ctx, (c) =>
        sql.join([
          compileSelect(mapping.select, c),
          sql`${compileExpr(mapping.key, c)} as ${sql.id('__key')}`,
          sql`${compileExpr(mapping.id, c)} as ${sql.id('__id')}`,
          sql`${compileExpr(mapping.lastUpdated, c)} as ${sql.id('__updated')}`,
        ]),
      ),
      ...sortCols,
    ];
    const allWhere = [this.#mappingWhere(mapping, ctx), ...where];
    const orderBy =
      order.length > 0
        ? sql` order by ${sql.join(order.map((o, i) => (o.descending ? sql`${sql.id(`__s${i}`)} desc` : sql`${sql.id(`__s${i}`)} asc`)))}`
        : sql``;
    const query = sql<Row>`select ${sql.join(columns)} from ${this.#from(mapping, ctx)} where ${sql.join(allWhere, sql` and `)}${orderBy} limit ${limit}`;
    const { rows } = await query.execute(this.#conn.db);
    return rows;
  }

  async #count(mapping: ResourceMapping, plan: SearchPlan, ctx: CompileContext): Promise<number> {
    const allWhere = [this.#mappingWhere(mapping, ctx), ...plan.where];
    const { rows } = await sql<{ n: unknown }>`select count(*) as n from ${this.#from(mapping, ctx)} where ${sql.join(allWhere, sql` and `)}`.execute(
      this.#conn.db,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** `FROM` with the joins of a resource, child collection or lookup. */
  #from(node: RowSource, ctx: CompileContext): Fragment {
    return this.#parts.get(node, 'from', ctx, (c) => compileFrom(node.from, node.joins, c));
  }

  /** The mapping's own conditions (voided rows left out, …). */
  #mappingWhere(node: RowSource, ctx: CompileContext): Fragment {
    return this.#parts.get(node, 'where', ctx, (c) => compileAnd(node.where ?? [], c));
  }

  /** Renders resources for rows: children and lookups fetched in batches first. */
  async #build(resourceType: string, mapping: ResourceMapping, rows: readonly Row[]): Promise<Resource[]> {
    if (rows.length === 0) return [];
    const ctx = this.#context();
    const keysWhere = (field: string | undefined): (string | number)[] =>
      rows.filter((r) => field === undefined || truthy(r[field])).map((r) => r.__key as string | number);
    // Child collections are independent queries: on a pool they run side by side.
    const children = new Map<string, Map<string, Row[]>>(
      await Promise.all(
        Object.entries(mapping.children ?? {}).map(async ([name, child]) => [name, await this.#fetchChildren(child, keysWhere(child.onlyWhere), ctx)] as const),
      ),
    );
    // Dictionary keys this page needs, per lookup.
    const needed = new Map<string, Set<string | number>>();
    for (const use of this.#usesOf(mapping.resource)) {
      const source = use.child === undefined ? rows : [...(children.get(use.child)?.values() ?? [])].flat();
      let set = needed.get(use.lookup);
      if (!set) needed.set(use.lookup, (set = new Set()));
      for (const r of source) {
        const v = r[use.field];
        if (v !== null && v !== undefined) set.add(v as string | number);
      }
    }
    await Promise.all([...needed].map(([name, set]) => this.#fillLookup(name, [...set], ctx)));

    const reach: Reach = {
      clock: this.#clock,
      lookup: (name, key) => {
        const entry = this.#lookupCache.get(name)?.get(String(key));
        return entry ? entryScope(entry, reach) : undefined;
      },
    };
    return rows.map((row) => {
      const key = String(row.__key);
      const scope: Scope = {
        ...reach,
        row,
        children: (name) => (children.get(name)?.get(key) ?? []).map((r) => leafScope(r, reach)),
      };
      const body = (this.#templates.render(mapping.resource, scope) ?? {}) as Record<string, unknown>;
      const lastUpdated = this.#templates.render(LAST_UPDATED, scope);
      const meta = { ...(body.meta as object | undefined), ...(lastUpdated ? { lastUpdated } : {}) };
      return { resourceType, id: String(row.__id).trim(), meta, ...withoutMeta(body) } as unknown as Resource;
    });
  }

  async #fetchChildren(child: ChildMapping, parentKeys: readonly (string | number)[], ctx: CompileContext): Promise<Map<string, Row[]>> {
    const byParent = new Map<string, Row[]>();
    if (parentKeys.length === 0) return byParent;
    // Parts built on `parentOf(c)` follow its "now", if it reads one.
    const parentOf = (c: CompileContext): Fragment => this.#parts.get(child, 'parent', c, (cc) => compileExpr(child.parentKey, cc));
    const head = this.#parts.get(child, 'head', ctx, (c) => sql`select ${compileSelect(child.select, c)}, ${parentOf(c)} as ${sql.id('__parent')} from ${this.#from(child, c)} where ${this.#mappingWhere(child, c)}`);
    const order = this.#parts.get(child, 'order', ctx, (c) => sql.join([parentOf(c), ...child.orderBy.map((e) => compileExpr(e, c))]));
    const { rows } = await sql<Row>`${head} and ${parentOf(ctx)} in (${sql.join(parentKeys.map((k) => sql`${k}`))}) order by ${order}`.execute(this.#conn.db);
    for (const row of rows) {
      const k = String(row.__parent);
      let list = byParent.get(k);
      if (!list) byParent.set(k, (list = []));
      list.push(row);
    }
    return byParent;
  }

  async #fillLookup(name: string, keys: readonly (string | number)[], ctx: CompileContext): Promise<void> {
    const lookup = this.#mapping.lookups?.[name];
    if (!lookup) return;
    let cache = this.#lookupCache.get(name);
    if (!cache) this.#lookupCache.set(name, (cache = new Map()));
    const now = Date.now();
    const missing = keys.filter((k) => {
      const entry = cache.get(String(k));
      return !entry || now - entry.at >= CODING_CACHE_MS;
    });
    if (missing.length === 0) return;
    const [rows, children] = await Promise.all([
      this.#fetchLookupRows(lookup, missing, ctx),
      Promise.all(
        Object.entries(lookup.children ?? {}).map(async ([childName, child]) => [childName, await this.#fetchChildren(child, missing, ctx)] as const),
      ).then((entries) => new Map(entries)),
    ]);
    for (const row of rows) {
      const key = String(row.__key);
      const entryChildren: Record<string, readonly Row[]> = {};
      for (const [childName, byParent] of children) entryChildren[childName] = byParent.get(key) ?? [];
      if (cache.size >= this.#cacheSize) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      cache.delete(key);
      cache.set(key, { row, children: entryChildren, at: now });
    }
  }

  async #fetchLookupRows(lookup: LookupMapping, keys: readonly (string | number)[], ctx: CompileContext): Promise<Row[]> {
    const keyOf = (c: CompileContext): Fragment => this.#parts.get(lookup, 'key', c, (cc) => compileExpr(lookup.key, cc));
    const head = this.#parts.get(lookup, 'head', ctx, (c) => sql`select ${compileSelect(lookup.select, c)}, ${keyOf(c)} as ${sql.id('__key')} from ${this.#from(lookup, c)} where ${this.#mappingWhere(lookup, c)}`);
    const { rows } = await sql<Row>`${head} and ${keyOf(ctx)} in (${sql.join(keys.map((k) => sql`${k}`))})`.execute(this.#conn.db);
    return rows;
  }

  /** `#findCodingKeys`, remembered for `CODING_CACHE_MS` so repeated code searches skip a round trip. */
  async #resolveCoding(name: string, token: string, ctx: CompileContext): Promise<(string | number)[]> {
    const cacheKey = `${name}\u0000${token}`;
    const cached = this.#codingCache.get(cacheKey);
    if (cached && Date.now() - cached.at < CODING_CACHE_MS) return cached.keys;
    const keys = await this.#findCodingKeys(name, token, ctx);
    if (this.#codingCache.size >= this.#cacheSize) {
      const oldest = this.#codingCache.keys().next().value;
      if (oldest !== undefined) this.#codingCache.delete(oldest);
    }
    this.#codingCache.set(cacheKey, { keys, at: Date.now() });
    return keys;
  }

  /** Keys of a lookup whose codings match a token `system|code`, `|code`, `system|` or `code`. */
  async #findCodingKeys(name: string, token: string, ctx: CompileContext): Promise<(string | number)[]> {
    const lookup = this.#mapping.lookups?.[name];
    if (!lookup?.codingIndex) return [];
    const bar = token.indexOf('|');
    const system = bar < 0 ? undefined : token.slice(0, bar);
    const code = bar < 0 ? token : token.slice(bar + 1);
    // Systems and codes match exactly; codes never carry surrounding whitespace.
    if ((system === '' && code === '') || code !== code.trim()) return [];
    const selects: Fragment[] = [];
    for (const index of lookup.codingIndex) {
      const conds: Fragment[] = [compileAnd(index.where ?? [], ctx)];
      if (system !== undefined) {
        if (system === '') {
          if (index.system) continue; // `|code`: codes without a system only
        } else {
          if (!index.system) continue;
          const dbValues = Object.entries(index.system.systems)
            .filter(([, url]) => url === system)
            .map(([dbValue]) => dbValue);
          if (dbValues.length === 0) continue;
          conds.push(sql`${compileExpr(index.system.expr, ctx)} in (${sql.join(dbValues.map((v) => sql`${v}`))})`);
        }
      }
      if (code !== '') conds.push(ctx.exactIn(compileExpr(index.code, ctx), [code]));
      selects.push(
        sql`select ${compileExpr(index.key, ctx)} as ${sql.id('k')} from ${compileFrom(index.from, index.joins, ctx)} where ${sql.join(conds, sql` and `)}`,
      );
    }
    if (selects.length === 0) return [];
    const { rows } = await sql<{ k: string | number }>`${sql.join(selects, sql` union `)}`.execute(this.#conn.db);
    return [...new Set(rows.map((r) => r.k))];
  }

  #usesOf(template: Template): LookupUse[] {
    let uses = this.#lookupUses.get(template);
    if (!uses) this.#lookupUses.set(template, (uses = collectLookupUses(template, undefined)));
    return uses;
  }
}

interface LookupUse {
  readonly lookup: string;
  readonly field: string;
  /** Child collection whose rows carry the field; `undefined`: the resource row. */
  readonly child: string | undefined;
}

function collectLookupUses(t: Template, child: string | undefined): LookupUse[] {
  if ('lookup' in t) return [{ lookup: t.lookup, field: t.key, child }];
  if ('object' in t) {
    return [...Object.values(t.object), ...(t.choice ?? []).flatMap((g) => Object.values(g))].flatMap((x) => collectLookupUses(x, child));
  }
  if ('array' in t) return t.array.flatMap((x) => collectLookupUses(x, child));
  if ('firstOf' in t) return t.firstOf.flatMap((x) => collectLookupUses(x, child));
  if ('join' in t) return t.join.flatMap((x) => collectLookupUses(x, child));
  if ('each' in t) return collectLookupUses(t.item, t.each);
  if ('first' in t) return collectLookupUses(t.item, t.first);
  if ('if' in t) return [...collectLookupUses(t.then, child), ...(t.else ? collectLookupUses(t.else, child) : [])];
  if ('ref' in t && t.display) return collectLookupUses(t.display, child);
  return [];
}

/** What every row of a page reaches besides its own values. */
type Reach = Pick<Scope, 'clock' | 'lookup'>;

function entryScope(entry: LookupEntry, reach: Reach): Scope {
  return { ...reach, row: entry.row, children: (name) => (entry.children[name] ?? []).map((r) => leafScope(r, reach)) };
}

function leafScope(row: Row, reach: Reach): Scope {
  return { ...reach, row, children: () => [] };
}

function sortValues(row: Row, n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => row[`__s${i}`]);
}

function withoutMeta(body: Record<string, unknown>): Record<string, unknown> {
  const { meta: _meta, ...rest } = body;
  return rest;
}

function matchesFilters(resource: Resource, filters: readonly Filter[]): boolean {
  return matchesSearchRequest(resource, { resourceType: resource.resourceType, filters: [...filters] });
}
