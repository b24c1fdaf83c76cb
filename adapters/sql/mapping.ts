/**
 * The declarative mapping format of the SQL adapter: plain, typed data that says, per FHIR
 * resource type, which tables and joins produce it, how the selected values become FHIR
 * elements, and which search parameters push down into which SQL predicates.
 *
 * A new database schema is a new `SqlMapping` value, not new code. A mapping can only name
 * tables, columns and literal values: it has no way to carry SQL text, so it cannot express a
 * write (and `validateMapping` refuses anything that is not made of these pieces).
 */

/** `alias.column` (or a bare column of the root table): always a reference, never SQL text. */
export type ColumnRef = string;

/** A value computed in SQL. Literals become bound parameters. */
export type Expr =
  | ColumnRef
  | { readonly col: ColumnRef }
  | { readonly lit: string | number | boolean | null }
  /** The query's "now" on the database's wall clock (`YYYY-MM-DD HH:MM:SS`), bound as a parameter. */
  | { readonly now: true }
  | { readonly coalesce: readonly Expr[] }
  /** The greatest of the values that are not NULL (NULL when all are). */
  | { readonly greatest: readonly Expr[] }
  /** `CASE WHEN … THEN 'a' … ELSE … END`: the first case whose conditions all hold. */
  | { readonly case: readonly CaseBranch[]; readonly else?: string | null };

export interface CaseBranch {
  readonly when: readonly Cond[];
  readonly then: string;
}

export type CompareOp = '=' | '<>' | '<' | '<=' | '>' | '>=';

/** A predicate over expressions. */
export type Cond =
  | { readonly cmp: readonly [Expr, CompareOp, Expr] }
  | { readonly isNull: Expr }
  | { readonly notNull: Expr }
  | { readonly in: Expr; readonly values: readonly (string | number)[] }
  | { readonly notIn: Expr; readonly values: readonly (string | number)[] }
  | { readonly and: readonly Cond[] }
  | { readonly or: readonly Cond[] }
  | { readonly not: Cond };

export interface TableRef {
  readonly table: string;
  readonly as: string;
}

export interface Join extends TableRef {
  readonly type: 'inner' | 'left';
  readonly on: readonly Cond[];
}

/** Rows selected from tables: the shape shared by resources, children and lookups. */
export interface RowSource {
  readonly from: TableRef;
  readonly joins?: readonly Join[];
  /** Always applied (e.g. `voided = false`). */
  readonly where?: readonly Cond[];
  /** Named values each row carries; templates read them by name. */
  readonly select: Readonly<Record<string, Expr>>;
}

/** Rows related to a parent row, fetched in one batch per page (`parentKey IN (...)`). */
export interface ChildMapping extends RowSource {
  /** Expression in this child's tables that equals the parent's `key`. */
  readonly parentKey: Expr;
  /** Sort of the children within one parent (stable output). */
  readonly orderBy: readonly Expr[];
  /**
   * A field of the parent row: children are only looked for where it is set (e.g. only obs
   * groups have members), which saves the round trip for pages without such rows.
   */
  readonly onlyWhere?: string;
}

/**
 * Dictionary rows (e.g. OpenMRS concepts) referenced by key from many rows, fetched in one
 * batch per page and cached by the adapter.
 */
export interface LookupMapping extends RowSource {
  readonly key: Expr;
  readonly children?: Readonly<Record<string, ChildMapping>>;
  /**
   * How a token `system|code` finds keys of this lookup, for `coding` pushdown: each index is a
   * row source whose `key` selects the lookup key and whose `code`/`system` select the coding.
   */
  readonly codingIndex?: readonly CodingIndex[];
}

export interface CodingIndex {
  readonly from: TableRef;
  readonly joins?: readonly Join[];
  readonly where?: readonly Cond[];
  readonly key: Expr;
  readonly code: Expr;
  /** The database value naming the code system, translated by `systems`; absent: codes without a system. */
  readonly system?: { readonly expr: Expr; readonly systems: Readonly<Record<string, string>> };
}

/** How a value from a row becomes a FHIR primitive. */
export type ValueType = 'string' | 'code' | 'date' | 'dateTime' | 'instant' | 'boolean' | 'decimal' | 'integer';

/** How to build JSON from a row. Fields absent or null make the element absent. */
export type Template =
  | { readonly field: string; readonly as?: ValueType }
  | { readonly const: JsonValue }
  | {
      readonly object: Readonly<Record<string, Template>>;
      /** Keys that must come out defined, else the whole object is absent. */
      readonly requires?: readonly string[];
      /** Keys of which at least one must come out defined, else the whole object is absent. */
      readonly requiresAny?: readonly string[];
      /** Choice elements (`value[x]`): per group, the first alternative that is defined. */
      readonly choice?: readonly Readonly<Record<string, Template>>[];
    }
  /** Items that are absent are dropped; items that render to arrays are spliced in. */
  | { readonly array: readonly Template[] }
  /** One item per child row, rendered with the child row. */
  | { readonly each: string; readonly item: Template }
  /** The first child row only. */
  | { readonly first: string; readonly item: Template }
  /** The lookup row whose key is this row's field, rendered with the lookup row. */
  | { readonly lookup: string; readonly key: string; readonly item: Template }
  /** Database code → FHIR code. Unlisted values give `otherwise` (absent by default). */
  | { readonly map: string; readonly values: Readonly<Record<string, JsonValue>>; readonly otherwise?: JsonValue }
  /** `{ reference: 'Type/<field>' }` */
  | { readonly ref: string; readonly field: string; readonly display?: Template }
  /** The first alternative that is defined. */
  | { readonly firstOf: readonly Template[] }
  /** The defined parts as one string, separated by `separator` (default a space), e.g. a full name. */
  | { readonly join: readonly Template[]; readonly separator?: string }
  /** Rendered only when the field is truthy (`1`, `true`, non-empty). */
  | { readonly if: string; readonly then: Template; readonly else?: Template };

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A search parameter evaluated by the database. */
export type Pushdown =
  /** A date/dateTime value: `[value, value + precision)`, with all FHIR prefixes. */
  | { readonly kind: 'date'; readonly expr: Expr; readonly precision: 'date' | 'second' }
  /**
   * A token compared with an expression. `codes` maps FHIR codes to the database values that
   * mean them (so indexes stay usable); without it the expression yields FHIR codes itself.
   * `system` is the code system the FHIR element carries (absent: codes without a system).
   */
  | {
      readonly kind: 'token';
      readonly expr: Expr;
      readonly system?: string;
      readonly codes?: Readonly<Record<string, readonly (string | number)[]>>;
    }
  /** A CodeableConcept built from a lookup: `system|code` resolved through its `codingIndex`. */
  | { readonly kind: 'coding'; readonly expr: Expr; readonly lookup: string }
  /** A reference to another resource of this source by its local id. */
  | { readonly kind: 'reference'; readonly expr: Expr; readonly target: string };

export interface ResourceMapping extends RowSource {
  /** Unique, non-null, indexed row key (the primary key): the stable tie-breaker of paging. */
  readonly key: Expr;
  /** The FHIR id (OpenMRS: `uuid`). */
  readonly id: Expr;
  /** `meta.lastUpdated`. */
  readonly lastUpdated: Expr;
  /** The local patient id this row belongs to (patient compartment); absent: not patient data. */
  readonly patient?: Expr;
  readonly children?: Readonly<Record<string, ChildMapping>>;
  /** The resource body; `resourceType`, `id` and `meta.lastUpdated` are added by the adapter. */
  readonly resource: Template;
  /** Search parameters pushed down (besides `_id`, `_lastUpdated` and the compartment). */
  readonly search: Readonly<Record<string, Pushdown>>;
  /** Search parameters evaluated after the query, in memory, on the built resources. */
  readonly searchInMemory?: readonly string[];
  /** `_sort` codes and what they order by; `nullable` ones sort with nulls first. */
  readonly sort?: Readonly<Record<string, { readonly expr: Expr; readonly nullable?: boolean; readonly kind: 'date' | 'string' }>>;
}

export interface SqlMapping {
  /** e.g. `openmrs-2.x`. */
  readonly name: string;
  readonly resources: Readonly<Record<string, ResourceMapping>>;
  readonly lookups?: Readonly<Record<string, LookupMapping>>;
}
