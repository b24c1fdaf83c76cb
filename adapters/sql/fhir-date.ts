/**
 * FHIR date search semantics turned into column bounds. A search value is a period (its
 * precision: `2024` is the whole year); a database value of precision G (a day or a second) is
 * the period [v, v + G). Every prefix reduces to `column >= a` / `column < b` on values of the
 * column's own grid, so comparisons stay index-friendly and agree with @medplum/core's
 * in-memory `matchesSearchRequest` (resource [start, end] against filter [start, end], ends
 * inclusive to the millisecond). Date-time columns hold wall-clock readings of the database's
 * time zone (`WallClock`); date columns are calendar dates, compared as such.
 */
import { badRequest, OperationOutcomeError, Operator } from '@medplum/core';
import type { WallClock } from './wall-clock.ts';

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface SearchPeriod {
  /** First millisecond (epoch ms, UTC). */
  readonly start: number;
  /** Last millisecond, inclusive. */
  readonly end: number;
}

/** Parses a FHIR date search value (`2024`, `2024-03`, `2024-03-05T10:00Z`, …); 400 when malformed. */
export function parseSearchPeriod(value: string, param: string): SearchPeriod {
  const m = DATE_RE.exec(value);
  if (!m) throw new OperationOutcomeError(badRequest(`Invalid date value for ${param}`, param));
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo);
  const day = d === undefined ? undefined : Number(d);
  if ((month !== undefined && (month < 1 || month > 12)) || (day !== undefined && (day < 1 || day > 31))) {
    throw new OperationOutcomeError(badRequest(`Invalid date value for ${param}`, param));
  }
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) {
    throw new OperationOutcomeError(badRequest(`Invalid date value for ${param}`, param));
  }
  const offsetMs = tzOffsetMs(tz);
  const base = Date.UTC(year, (month ?? 1) - 1, day ?? 1, Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  // Date.UTC maps years 0..99 to 1900..1999: set the year explicitly.
  const startDate = new Date(base + ms);
  startDate.setUTCFullYear(year);
  if (day !== undefined && startDate.getUTCDate() !== day) {
    throw new OperationOutcomeError(badRequest(`Invalid date value for ${param}`, param));
  }
  const start = startDate.getTime() - offsetMs;
  const next = new Date(start + offsetMs);
  if (month === undefined) next.setUTCFullYear(year + 1);
  else if (day === undefined) next.setUTCMonth(month);
  else if (h === undefined) next.setUTCDate(day + 1);
  else if (s === undefined) next.setUTCMinutes(Number(mi) + 1);
  else if (frac === undefined) next.setUTCSeconds(Number(s) + 1);
  else next.setUTCMilliseconds(ms + 1);
  return { start, end: next.getTime() - offsetMs - 1 };
}

function tzOffsetMs(tz: string | undefined): number {
  if (!tz || tz === 'Z') return 0;
  const sign = tz.startsWith('-') ? -1 : 1;
  const [hh, mm] = tz.slice(1).split(':');
  return sign * (Number(hh) * 60 + Number(mm)) * 60_000;
}

/** `column >= atLeast AND column < below` (either side may be open), in column values. */
export interface ColumnBounds {
  readonly atLeast?: string;
  readonly below?: string;
}

const DAY = 86_400_000;
const SECOND = 1000;

/**
 * Bounds for `prefix value` on a column holding values of the given precision, or `undefined`
 * for prefixes without a bound form (`ne` is `not eq`, handled by the caller).
 */
export function dateBounds(operator: Operator, period: SearchPeriod, precision: 'date' | 'second', clock: WallClock): ColumnBounds {
  const g = precision === 'date' ? DAY : SECOND;
  const fmt = (ms: number): string => formatColumnValue(precision === 'date' ? ms : clock.toWall(ms), precision);
  const floor = (x: number): number => Math.floor(x / g) * g;
  const ceil = (x: number): number => Math.ceil(x / g) * g;
  // Resource period [c, c + g - 1]; the grid lemmas: c < X ⇔ c < ceil(X); c > X ⇔ c ≥ floor(X) + g;
  // c ≤ X ⇔ c < floor(X) + g; c ≥ X ⇔ c ≥ ceil(X).
  const { start: fs, end: fe } = period;
  switch (operator) {
    case Operator.EQUALS:
    case Operator.NOT_EQUALS:
    case Operator.APPROXIMATELY:
      return { atLeast: fmt(floor(fs - g + 1) + g), below: fmt(ceil(fe)) };
    case Operator.LESS_THAN:
      return { below: fmt(ceil(fs)) };
    case Operator.GREATER_THAN:
      return { atLeast: fmt(floor(fe - g + 1) + g) };
    case Operator.LESS_THAN_OR_EQUALS:
      return { below: fmt(floor(fe) + g) };
    case Operator.GREATER_THAN_OR_EQUALS:
      return { atLeast: fmt(ceil(fs - g + 1)) };
    case Operator.STARTS_AFTER:
      return { atLeast: fmt(floor(fe) + g) };
    case Operator.ENDS_BEFORE:
      return { below: fmt(ceil(fs - g + 1)) };
    default:
      throw new OperationOutcomeError(badRequest(`Unsupported date prefix ${operator}`));
  }
}

const YEAR_1 = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  return d.getTime();
})();
const YEAR_9999_END = Date.UTC(9999, 11, 31, 23, 59, 59);

/** Epoch ms → `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (UTC), clamped to years 0001–9999. */
export function formatColumnValue(ms: number, precision: 'date' | 'second'): string {
  const clamped = Math.min(Math.max(ms, YEAR_1), YEAR_9999_END);
  const iso = new Date(clamped).toISOString();
  const day = iso.slice(0, 10);
  return precision === 'date' ? day : `${day} ${iso.slice(11, 19)}`;
}

/** An instant (default: now) as a date-time column value, read on the database's wall clock. */
export function nowColumnValue(clock: WallClock, now: number = Date.now()): string {
  return formatColumnValue(clock.toWall(now), 'second');
}

/**
 * A database date/time value → FHIR dateTime: a date stays a date, a wall-clock reading
 * (`YYYY-MM-DD HH:MM:SS[.fff]`) becomes the instant it stands for in the clock's zone, and a
 * `Date` (a column with a time zone) is already an instant.
 */
export function toFhirDateTime(value: unknown, clock: WallClock): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : `${value.toISOString().slice(0, 19)}Z`;
  const text = toColumnText(value);
  if (!text) return undefined;
  if (text.length === 10) return text;
  return clock.instantOf(text);
}

/** A calendar date: the date part as stored (an instant's date in UTC). */
export function toFhirDate(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString().slice(0, 10);
  return toColumnText(value)?.slice(0, 10);
}

function toColumnText(value: unknown): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const text = String(value);
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? text : undefined;
}
