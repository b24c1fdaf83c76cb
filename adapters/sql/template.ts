/**
 * Renders a mapping `Template` against selected rows into FHIR JSON. Absent values (SQL NULL,
 * empty strings) make elements absent, so no resource ever carries `null` or empty arrays.
 */
import type { JsonValue, Template, ValueType } from './mapping.ts';
import { toFhirDate, toFhirDateTime } from './fhir-date.ts';
import type { WallClock } from './wall-clock.ts';

export type Row = Readonly<Record<string, unknown>>;

/** A row with what templates may reach from it. */
export interface Scope {
  readonly row: Row;
  /** The time zone of the row's date-time values. */
  readonly clock: WallClock;
  children(name: string): readonly Scope[];
  lookup(name: string, key: unknown): Scope | undefined;
}

type Out = unknown;

export function render(template: Template, scope: Scope): Out {
  if ('ref' in template) {
    // CHAR(38) uuid columns come back blank-padded from PostgreSQL.
    const id = String(scope.row[template.field] ?? '').trim();
    if (id === '') return undefined;
    const display = template.display ? render(template.display, scope) : undefined;
    return display === undefined ? { reference: `${template.ref}/${id}` } : { reference: `${template.ref}/${id}`, display };
  }
  if ('field' in template) return convert(scope.row[template.field], template.as ?? 'string', scope.clock);
  if ('const' in template) return template.const;
  if ('object' in template) {
    const out: Record<string, Out> = {};
    for (const [key, t] of Object.entries(template.object)) {
      const v = render(t, scope);
      if (v !== undefined) out[key] = v;
    }
    for (const group of template.choice ?? []) {
      for (const [key, t] of Object.entries(group)) {
        const v = render(t, scope);
        if (v !== undefined) {
          out[key] = v;
          break;
        }
      }
    }
    if (template.requires?.some((k) => out[k] === undefined)) return undefined;
    if (template.requiresAny && !template.requiresAny.some((k) => out[k] !== undefined)) return undefined;
    return Object.keys(out).length > 0 ? out : undefined;
  }
  if ('array' in template) return nonEmpty(template.array.flatMap((t) => render(t, scope)));
  if ('each' in template) return nonEmpty(scope.children(template.each).map((child) => render(template.item, child)));
  if ('first' in template) {
    const child = scope.children(template.first)[0];
    return child ? render(template.item, child) : undefined;
  }
  if ('lookup' in template) {
    const key = scope.row[template.key];
    if (key === null || key === undefined) return undefined;
    const target = scope.lookup(template.lookup, key);
    return target ? render(template.item, target) : undefined;
  }
  if ('map' in template) {
    const v = scope.row[template.map];
    if (v === null || v === undefined) return undefined;
    const mapped = template.values[String(v)];
    return mapped !== undefined ? mapped : (template.otherwise ?? undefined);
  }
  if ('join' in template) {
    const parts = template.join.flatMap((t) => render(t, scope)).filter((v) => v !== undefined && v !== '');
    return parts.length > 0 ? parts.map(String).join(template.separator ?? ' ') : undefined;
  }
  if ('firstOf' in template) {
    for (const t of template.firstOf) {
      const v = render(t, scope);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  const flag = present(scope.row[template.if]);
  if (flag) return render(template.then, scope);
  return template.else ? render(template.else, scope) : undefined;
}

function nonEmpty(items: Out[]): Out[] | undefined {
  const kept = items.filter((v) => v !== undefined);
  return kept.length > 0 ? kept : undefined;
}

/** A flag column that is set, or any other non-empty value (e.g. a joined row's uuid). */
function present(v: unknown): boolean {
  if (typeof v === 'string') return v !== '' && v !== '0' && v.toLowerCase() !== 'false' && v !== 'f';
  return truthy(v);
}

export function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 1n || v === 't' || v === 'true';
}

/** Database value → FHIR primitive of the given type; `undefined` when absent or unusable. */
export function convert(v: unknown, as: ValueType, clock: WallClock): JsonValue | undefined {
  if (v === null || v === undefined) return undefined;
  switch (as) {
    case 'string':
    case 'code': {
      const s = (typeof v === 'string' ? v : String(v)).trim();
      return s === '' ? undefined : s;
    }
    case 'date':
      return toFhirDate(v);
    case 'dateTime':
    case 'instant':
      return toFhirDateTime(v, clock);
    case 'boolean':
      return truthy(v);
    case 'decimal':
    case 'integer': {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isFinite(n)) return undefined;
      return as === 'integer' ? Math.trunc(n) : n;
    }
  }
}
