import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import t from 'tap';
import { CompiledParts } from '../../adapters/sql/compiled-parts.ts';
import type { Expr } from '../../adapters/sql/mapping.ts';
import { compileExpr, type CompileContext, type Fragment } from '../../adapters/sql/sql-expr.ts';
import { WallClock } from '../../adapters/sql/wall-clock.ts';

// Compiles to text without a database.
const db = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
const clock = new WallClock('UTC');
const at = (now: string): CompileContext => ({ now, clock, bool: (v) => v, exactIn: (expr, values) => sql`${expr} in (${sql.join(values)})` });
const compiled = (fragment: Fragment): { sql: string; parameters: readonly unknown[] } => {
  const { sql: text, parameters } = fragment.compile(db);
  return { sql: text, parameters };
};

t.test('a part that does not read "now" is compiled once and reused whatever the query\'s "now"', async (t) => {
  const parts = new CompiledParts();
  const owner = {};
  const status: Expr = { case: [{ when: [{ cmp: ['o.voided', '=', { lit: true }] }], then: 'voided' }], else: 'active' };
  let compilations = 0;
  const compile = (ctx: CompileContext): Fragment => {
    compilations++;
    return compileExpr(status, ctx);
  };
  const first = parts.get(owner, 'status', at('2026-01-01 10:00:00'), compile);
  const later = parts.get(owner, 'status', at('2026-01-01 10:00:07'), compile);
  t.equal(later, first);
  t.equal(compilations, 1);
  t.not(parts.get({}, 'status', at('2026-01-01 10:00:07'), compile), first, 'parts are kept per owner');
  t.not(parts.get(owner, 'other', at('2026-01-01 10:00:07'), compile), first, 'and per name');
});

t.test('a part that reads "now" is reused for the same "now" only, and then binds the new one', async (t) => {
  const parts = new CompiledParts();
  const owner = {};
  const expired: Expr = { case: [{ when: [{ cmp: ['o.auto_expire_date', '<', { now: true }] }], then: 'stopped' }], else: 'active' };
  let compilations = 0;
  const compile = (ctx: CompileContext): Fragment => {
    compilations++;
    return compileExpr(expired, ctx);
  };
  const ten = parts.get(owner, 'status', at('2026-01-01 10:00:00'), compile);
  t.equal(parts.get(owner, 'status', at('2026-01-01 10:00:00'), compile), ten);
  t.equal(compilations, 1);
  const eleven = parts.get(owner, 'status', at('2026-01-01 11:00:00'), compile);
  t.equal(compilations, 2);
  t.ok(compiled(ten).parameters.includes('2026-01-01 10:00:00'));
  t.ok(compiled(eleven).parameters.includes('2026-01-01 11:00:00'));
  t.notOk(compiled(eleven).parameters.includes('2026-01-01 10:00:00'));
});

t.test('a part built from another part that reads "now" follows that "now" too', async (t) => {
  const parts = new CompiledParts();
  const owner = {};
  const inner = (ctx: CompileContext): Fragment => parts.get(owner, 'inner', ctx, (c) => compileExpr({ now: true }, c));
  const outer = (ctx: CompileContext): Fragment => parts.get(owner, 'outer', ctx, (c) => sql`select ${inner(c)} as now`);
  outer(at('2026-01-01 10:00:00'));
  t.same(compiled(outer(at('2026-01-01 12:00:00'))).parameters, ['2026-01-01 12:00:00']);
});
