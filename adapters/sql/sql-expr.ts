/**
 * Compiles mapping expressions and conditions to Kysely SQL fragments. Identifiers go through
 * `sql.ref`/`sql.table` (quoted by the dialect) and every value through a bound parameter:
 * nothing here concatenates text into SQL.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Cond, Expr, Join, TableRef } from './mapping.ts';
import type { WallClock } from './wall-clock.ts';

export type Fragment = RawBuilder<unknown>;

export interface CompileContext {
  /** The query's "now", `YYYY-MM-DD HH:MM:SS` on the database's wall clock. */
  readonly now: string;
  /** The time zone of the database's date-time columns. */
  readonly clock: WallClock;
  /** Dialect-specific parameter value for booleans (node:sqlite binds no booleans). */
  readonly bool: (value: boolean) => boolean | number;
  /** `expr IN (values)`, exact and case-sensitive whatever the column's collation. */
  readonly exactIn: (expr: Fragment, values: readonly (string | number)[]) => Fragment;
}

export function compileExpr(expr: Expr, ctx: CompileContext): Fragment {
  if (typeof expr === 'string') return sql.ref(expr);
  if ('col' in expr) return sql.ref(expr.col);
  if ('lit' in expr) return param(expr.lit, ctx);
  if ('now' in expr) return sql`${ctx.now}`;
  if ('coalesce' in expr) return sql`coalesce(${sql.join(expr.coalesce.map((e) => compileExpr(e, ctx)))})`;
  if ('greatest' in expr) {
    // Written with CASE: GREATEST differs across dialects on NULLs, and SQLite has none.
    return expr.greatest
      .map((e) => compileExpr(e, ctx))
      .reduce((a, b) => sql`(case when ${b} is null or ${a} >= ${b} then ${a} else ${b} end)`);
  }
  const branches = expr.case.map((b) => sql`when ${compileAnd(b.when, ctx)} then ${b.then}`);
  const otherwise = expr.else ?? null;
  return otherwise === null
    ? sql`(case ${sql.join(branches, sql` `)} end)`
    : sql`(case ${sql.join(branches, sql` `)} else ${otherwise} end)`;
}

function param(value: string | number | boolean | null, ctx: CompileContext): Fragment {
  if (value === null) return sql`null`;
  if (typeof value === 'boolean') return sql`${ctx.bool(value)}`;
  return sql`${value}`;
}

export function compileCond(cond: Cond, ctx: CompileContext): Fragment {
  if ('cmp' in cond) {
    const [left, op, right] = cond.cmp;
    const operator = COMPARE_OPS[op];
    if (operator === undefined) throw new Error(`unknown comparison ${String(op)}`);
    return sql`${compileExpr(left, ctx)} ${sql.raw(operator)} ${compileExpr(right, ctx)}`;
  }
  if ('isNull' in cond) return sql`${compileExpr(cond.isNull, ctx)} is null`;
  if ('notNull' in cond) return sql`${compileExpr(cond.notNull, ctx)} is not null`;
  if ('in' in cond) {
    if (cond.values.length === 0) return sql`1 = 0`;
    return sql`${compileExpr(cond.in, ctx)} in (${sql.join(cond.values.map((v) => sql`${v}`))})`;
  }
  if ('notIn' in cond) {
    if (cond.values.length === 0) return sql`1 = 1`;
    return sql`${compileExpr(cond.notIn, ctx)} not in (${sql.join(cond.values.map((v) => sql`${v}`))})`;
  }
  if ('and' in cond) return compileAnd(cond.and, ctx);
  if ('or' in cond) {
    if (cond.or.length === 0) return sql`1 = 0`;
    return sql`(${sql.join(cond.or.map((c) => compileCond(c, ctx)), sql` or `)})`;
  }
  return sql`not (${compileCond(cond.not, ctx)})`;
}

export function compileAnd(conds: readonly Cond[], ctx: CompileContext): Fragment {
  if (conds.length === 0) return sql`1 = 1`;
  return sql`(${sql.join(conds.map((c) => compileCond(c, ctx)), sql` and `)})`;
}

/** The operator text comes only from this fixed table, never from input. */
const COMPARE_OPS: Readonly<Record<string, string>> = {
  '=': '=',
  '<>': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
};

/** `FROM t AS a [LEFT] JOIN u AS b ON …` */
export function compileFrom(from: TableRef, joins: readonly Join[] | undefined, ctx: CompileContext): Fragment {
  const parts: Fragment[] = [sql`${sql.table(from.table)} as ${sql.id(from.as)}`];
  for (const join of joins ?? []) {
    const kind = join.type === 'left' ? sql`left join` : sql`inner join`;
    parts.push(sql`${kind} ${sql.table(join.table)} as ${sql.id(join.as)} on ${compileAnd(join.on, ctx)}`);
  }
  return sql.join(parts, sql` `);
}

export function compileSelect(select: Readonly<Record<string, Expr>>, ctx: CompileContext): Fragment {
  return sql.join(Object.entries(select).map(([name, expr]) => sql`${compileExpr(expr, ctx)} as ${sql.id(name)}`));
}
