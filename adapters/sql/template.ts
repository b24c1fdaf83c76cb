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

type Renderer = (scope: Scope) => Out;

/** Renders templates, each turned into closures once: a page renders the same templates for every row. */
export class TemplateRenderer {
  readonly #renderers = new WeakMap<Template, Renderer>();

  render(template: Template, scope: Scope): Out {
    return this.#rendererOf(template)(scope);
  }

  #rendererOf(template: Template): Renderer {
    let renderer = this.#renderers.get(template);
    if (!renderer) this.#renderers.set(template, (renderer = compile(template, (t) => this.#rendererOf(t))));
    return renderer;
  }
}

function compile(template: Template, rendererOf: (template: Template) => Renderer): Renderer {
  if ('ref' in template) {
    const { ref, field } = template;
    const display = template.display ? rendererOf(template.display) : undefined;
    return (scope) => {
      // CHAR(38) uuid columns come back blank-padded from PostgreSQL.
      const id = String(scope.row[field] ?? '').trim();
      if (id === '') return undefined;
      const shown = display?.(scope);
      return shown === undefined ? { reference: `${ref}/${id}` } : { reference: `${ref}/${id}`, display: shown };
    };
  }
  if ('field' in template) {
    const { field } = template;
    const as = template.as ?? 'string';
    return (scope) => convert(scope.row[field], as, scope.clock);
  }
  if ('const' in template) {
    const value = template.const;
    return () => value;
  }
  if ('object' in template) {
    const members = Object.entries(template.object).map(([key, t]) => [key, rendererOf(t)] as const);
    const choices = (template.choice ?? []).map((group) => Object.entries(group).map(([key, t]) => [key, rendererOf(t)] as const));
    const { requires, requiresAny } = template;
    return (scope) => {
      const out: Record<string, Out> = {};
      let empty = true;
      for (const [key, member] of members) {
        const v = member(scope);
        if (v !== undefined) {
          out[key] = v;
          empty = false;
        }
      }
      for (const group of choices) {
        for (const [key, member] of group) {
          const v = member(scope);
          if (v !== undefined) {
            out[key] = v;
            empty = false;
            break;
          }
        }
      }
      if (requires?.some((k) => out[k] === undefined)) return undefined;
      if (requiresAny && !requiresAny.some((k) => out[k] !== undefined)) return undefined;
      return empty ? undefined : out;
    };
  }
  if ('array' in template) {
    const items = template.array.map(rendererOf);
    return (scope) => nonEmpty(items.flatMap((item) => item(scope)));
  }
  if ('each' in template) {
    const { each } = template;
    const item = rendererOf(template.item);
    return (scope) => nonEmpty(scope.children(each).map((child) => item(child)));
  }
  if ('first' in template) {
    const { first } = template;
    const item = rendererOf(template.item);
    return (scope) => {
      const child = scope.children(first)[0];
      return child ? item(child) : undefined;
    };
  }
  if ('lookup' in template) {
    const { lookup, key } = template;
    const item = rendererOf(template.item);
    return (scope) => {
      const value = scope.row[key];
      if (value === null || value === undefined) return undefined;
      const target = scope.lookup(lookup, value);
      return target ? item(target) : undefined;
    };
  }
  if ('map' in template) {
    const { map, values } = template;
    const otherwise = template.otherwise ?? undefined;
    return (scope) => {
      const v = scope.row[map];
      if (v === null || v === undefined) return undefined;
      const mapped = values[String(v)];
      return mapped !== undefined ? mapped : otherwise;
    };
  }
  if ('join' in template) {
    const parts = template.join.map(rendererOf);
    const separator = template.separator ?? ' ';
    return (scope) => {
      const texts = parts.flatMap((part) => part(scope)).filter((v) => v !== undefined && v !== '');
      return texts.length > 0 ? texts.map(String).join(separator) : undefined;
    };
  }
  if ('firstOf' in template) {
    const options = template.firstOf.map(rendererOf);
    return (scope) => {
      for (const option of options) {
        const v = option(scope);
        if (v !== undefined) return v;
      }
      return undefined;
    };
  }
  const flag = template.if;
  const then = rendererOf(template.then);
  const otherwise = template.else ? rendererOf(template.else) : undefined;
  return (scope) => (present(scope.row[flag]) ? then(scope) : otherwise?.(scope));
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
