/**
 * Refuses a mapping that is not made only of the declarative pieces `mapping.ts` defines. Every
 * table, alias and column must be a plain identifier, every alias must be declared in the row
 * source that uses it, every node must be a known kind with no extra keys. A mapping therefore
 * cannot smuggle SQL text (a write, a second statement, a comment) into a query; the adapter
 * refuses to start otherwise.
 */
import type { ChildMapping, Cond, Expr, LookupMapping, Pushdown, ResourceMapping, RowSource, SqlMapping, Template } from './mapping.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

export function validateMapping(mapping: SqlMapping): void {
  const problems: string[] = [];
  const lookups = mapping.lookups ?? {};
  for (const [name, lookup] of Object.entries(lookups)) {
    const where = `lookups.${name}`;
    checkRowSource(lookup, where, problems);
    checkExpr(lookup.key, aliasesOf(lookup), `${where}.key`, problems);
    checkChildren(lookup.children, where, problems);
    for (const [i, index] of (lookup.codingIndex ?? []).entries()) {
      const at = `${where}.codingIndex[${i}]`;
      checkKeys(index, ['from', 'joins', 'where', 'key', 'code', 'system'], at, problems);
      const aliases = aliasesOf(index);
      checkTables(index, at, problems);
      for (const [j, c] of (index.where ?? []).entries()) checkCond(c, aliases, `${at}.where[${j}]`, problems);
      checkExpr(index.key, aliases, `${at}.key`, problems);
      checkExpr(index.code, aliases, `${at}.code`, problems);
      if (index.system) checkExpr(index.system.expr, aliases, `${at}.system`, problems);
    }
  }
  for (const [type, resource] of Object.entries(mapping.resources)) {
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(type)) problems.push(`resources.${type}: not a FHIR resource type`);
    checkResource(resource, `resources.${type}`, lookups, problems);
  }
  if (problems.length > 0) throw new MappingError(`mapping ${mapping.name} refused: ${problems.join('; ')}`);
}

function checkResource(r: ResourceMapping, where: string, lookups: Readonly<Record<string, LookupMapping>>, problems: string[]): void {
  checkKeys(
    r,
    ['from', 'joins', 'where', 'select', 'key', 'id', 'lastUpdated', 'patient', 'children', 'resource', 'search', 'searchInMemory', 'sort'],
    where,
    problems,
  );
  checkRowSource(r, where, problems);
  const aliases = aliasesOf(r);
  for (const k of ['key', 'id', 'lastUpdated', 'patient'] as const) {
    const e = r[k];
    if (e !== undefined) checkExpr(e, aliases, `${where}.${k}`, problems);
  }
  checkChildren(r.children, where, problems);
  for (const [code, p] of Object.entries(r.search)) checkPushdown(p, aliases, lookups, `${where}.search.${code}`, problems);
  for (const [code, s] of Object.entries(r.sort ?? {})) checkExpr(s.expr, aliases, `${where}.sort.${code}`, problems);
  checkTemplate(r.resource, new Set(Object.keys(r.select)), r.children ?? {}, lookups, `${where}.resource`, problems);
}

function checkChildren(children: Readonly<Record<string, ChildMapping>> | undefined, where: string, problems: string[]): void {
  for (const [name, child] of Object.entries(children ?? {})) {
    const at = `${where}.children.${name}`;
    checkKeys(child, ['from', 'joins', 'where', 'select', 'parentKey', 'orderBy', 'onlyWhere'], at, problems);
    checkRowSource(child, at, problems);
    const aliases = aliasesOf(child);
    checkExpr(child.parentKey, aliases, `${at}.parentKey`, problems);
    for (const [i, e] of child.orderBy.entries()) checkExpr(e, aliases, `${at}.orderBy[${i}]`, problems);
  }
}

function checkPushdown(
  p: Pushdown,
  aliases: ReadonlySet<string>,
  lookups: Readonly<Record<string, LookupMapping>>,
  where: string,
  problems: string[],
): void {
  switch (p.kind) {
    case 'date':
      checkKeys(p, ['kind', 'expr', 'precision'], where, problems);
      break;
    case 'token':
      checkKeys(p, ['kind', 'expr', 'system', 'codes'], where, problems);
      break;
    case 'coding':
      checkKeys(p, ['kind', 'expr', 'lookup'], where, problems);
      if (!lookups[p.lookup]?.codingIndex) problems.push(`${where}: lookup ${p.lookup} has no codingIndex`);
      break;
    case 'reference':
      checkKeys(p, ['kind', 'expr', 'target'], where, problems);
      break;
    default:
      problems.push(`${where}: unknown pushdown kind`);
      return;
  }
  checkExpr(p.expr, aliases, `${where}.expr`, problems);
}

function checkRowSource(s: RowSource, where: string, problems: string[]): void {
  checkTables(s, where, problems);
  const aliases = aliasesOf(s);
  for (const [i, c] of (s.where ?? []).entries()) checkCond(c, aliases, `${where}.where[${i}]`, problems);
  for (const [name, e] of Object.entries(s.select)) {
    if (!IDENT.test(name)) problems.push(`${where}.select: ${JSON.stringify(name)} is not an identifier`);
    checkExpr(e, aliases, `${where}.select.${name}`, problems);
  }
}

function checkTables(s: Pick<RowSource, 'from' | 'joins'>, where: string, problems: string[]): void {
  const seen = new Set<string>();
  for (const t of [s.from, ...(s.joins ?? [])]) {
    if (!IDENT.test(t.table)) problems.push(`${where}: table ${JSON.stringify(t.table)} is not an identifier`);
    if (!IDENT.test(t.as)) problems.push(`${where}: alias ${JSON.stringify(t.as)} is not an identifier`);
    if (seen.has(t.as)) problems.push(`${where}: alias ${t.as} declared twice`);
    seen.add(t.as);
  }
  const declared = new Set<string>([s.from.as]);
  for (const j of s.joins ?? []) {
    declared.add(j.as);
    if (j.type !== 'inner' && j.type !== 'left') problems.push(`${where}: join ${j.as} has no type inner|left`);
    for (const [i, c] of j.on.entries()) checkCond(c, declared, `${where}.joins.${j.as}.on[${i}]`, problems);
  }
}

function aliasesOf(s: Pick<RowSource, 'from' | 'joins'>): ReadonlySet<string> {
  return new Set([s.from.as, ...(s.joins ?? []).map((j) => j.as)]);
}

function checkColumn(ref: string, aliases: ReadonlySet<string>, where: string, problems: string[]): void {
  const parts = ref.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    problems.push(`${where}: ${JSON.stringify(ref)} is not a column reference`);
  } else if (parts.length === 2 && !aliases.has(parts[0] as string)) {
    problems.push(`${where}: alias ${parts[0]} is not declared`);
  }
}

function checkExpr(e: Expr, aliases: ReadonlySet<string>, where: string, problems: string[]): void {
  if (typeof e === 'string') return checkColumn(e, aliases, where, problems);
  if (typeof e !== 'object' || e === null) return void problems.push(`${where}: not an expression`);
  if ('col' in e) {
    checkKeys(e, ['col'], where, problems);
    return checkColumn(e.col, aliases, where, problems);
  }
  if ('lit' in e) {
    checkKeys(e, ['lit'], where, problems);
    if (!['string', 'number', 'boolean'].includes(typeof e.lit) && e.lit !== null) problems.push(`${where}: bad literal`);
    return;
  }
  if ('now' in e) return checkKeys(e, ['now'], where, problems);
  if ('coalesce' in e) {
    checkKeys(e, ['coalesce'], where, problems);
    return e.coalesce.forEach((x, i) => checkExpr(x, aliases, `${where}.coalesce[${i}]`, problems));
  }
  if ('case' in e) {
    checkKeys(e, ['case', 'else'], where, problems);
    return e.case.forEach((b, i) => {
      if (typeof b.then !== 'string') problems.push(`${where}.case[${i}]: then must be a string`);
      b.when.forEach((c, j) => checkCond(c, aliases, `${where}.case[${i}].when[${j}]`, problems));
    });
  }
  problems.push(`${where}: unknown expression ${JSON.stringify(Object.keys(e))}`);
}

function checkCond(c: Cond, aliases: ReadonlySet<string>, where: string, problems: string[]): void {
  if (typeof c !== 'object' || c === null) return void problems.push(`${where}: not a condition`);
  if ('cmp' in c) {
    checkKeys(c, ['cmp'], where, problems);
    const [l, op, r] = c.cmp;
    if (!['=', '<>', '<', '<=', '>', '>='].includes(op)) problems.push(`${where}: operator ${JSON.stringify(op)}`);
    checkExpr(l, aliases, where, problems);
    return checkExpr(r, aliases, where, problems);
  }
  if ('isNull' in c) return (checkKeys(c, ['isNull'], where, problems), checkExpr(c.isNull, aliases, where, problems));
  if ('notNull' in c) return (checkKeys(c, ['notNull'], where, problems), checkExpr(c.notNull, aliases, where, problems));
  if ('in' in c) return (checkKeys(c, ['in', 'values'], where, problems), checkExpr(c.in, aliases, where, problems));
  if ('notIn' in c) return (checkKeys(c, ['notIn', 'values'], where, problems), checkExpr(c.notIn, aliases, where, problems));
  if ('and' in c) return c.and.forEach((x, i) => checkCond(x, aliases, `${where}.and[${i}]`, problems));
  if ('or' in c) return c.or.forEach((x, i) => checkCond(x, aliases, `${where}.or[${i}]`, problems));
  if ('not' in c) return checkCond(c.not, aliases, `${where}.not`, problems);
  problems.push(`${where}: unknown condition ${JSON.stringify(Object.keys(c))}`);
}

function checkTemplate(
  t: Template,
  fields: ReadonlySet<string>,
  children: Readonly<Record<string, ChildMapping>>,
  lookups: Readonly<Record<string, LookupMapping>>,
  where: string,
  problems: string[],
): void {
  const field = (name: string): void => {
    if (!fields.has(name)) problems.push(`${where}: field ${name} is not selected`);
  };
  if ('ref' in t) {
    field(t.field);
    if (t.display) checkTemplate(t.display, fields, children, lookups, where, problems);
    return;
  }
  if ('field' in t) return field(t.field);
  if ('const' in t) return;
  if ('object' in t) {
    for (const [k, x] of Object.entries(t.object)) checkTemplate(x, fields, children, lookups, `${where}.${k}`, problems);
    for (const g of t.choice ?? []) for (const [k, x] of Object.entries(g)) checkTemplate(x, fields, children, lookups, `${where}.${k}`, problems);
    return;
  }
  if ('array' in t) return t.array.forEach((x, i) => checkTemplate(x, fields, children, lookups, `${where}[${i}]`, problems));
  if ('each' in t || 'first' in t) {
    const name = 'each' in t ? t.each : t.first;
    const child = children[name];
    if (!child) return void problems.push(`${where}: no child ${name}`);
    return checkTemplate(t.item, new Set(Object.keys(child.select)), {}, lookups, `${where}.${name}`, problems);
  }
  if ('lookup' in t) {
    field(t.key);
    const lookup = lookups[t.lookup];
    if (!lookup) return void problems.push(`${where}: no lookup ${t.lookup}`);
    return checkTemplate(t.item, new Set(Object.keys(lookup.select)), lookup.children ?? {}, lookups, `${where}.${t.lookup}`, problems);
  }
  if ('map' in t) return field(t.map);
  if ('firstOf' in t) return t.firstOf.forEach((x, i) => checkTemplate(x, fields, children, lookups, `${where}[${i}]`, problems));
  if ('if' in t) {
    field(t.if);
    checkTemplate(t.then, fields, children, lookups, where, problems);
    if (t.else) checkTemplate(t.else, fields, children, lookups, where, problems);
    return;
  }
  problems.push(`${where}: unknown template`);
}

function checkKeys(node: object, allowed: readonly string[], where: string, problems: string[]): void {
  for (const k of Object.keys(node)) if (!allowed.includes(k)) problems.push(`${where}: unexpected key ${JSON.stringify(k)}`);
}
