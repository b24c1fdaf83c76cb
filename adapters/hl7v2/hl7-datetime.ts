/**
 * HL7 v2 DTM/DT/TS values to FHIR date and dateTime, keeping their precision and zone.
 *
 * `YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ]`. A date-only value stays a date (`1980-03-02`,
 * never shifted through UTC); a value with a time gets seconds (FHIR requires them) and a zone:
 * its own offset when present, otherwise the source's configured zone at that local time.
 */

const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/** A FHIR `date` (YYYY, YYYY-MM or YYYY-MM-DD) from the date part of an HL7 value, or undefined. */
export function hl7ToFhirDate(value: string): string | undefined {
  const m = DTM.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d] = m;
  if (mo && !validMonth(mo)) return undefined;
  if (d && !validDay(y!, mo!, d)) return undefined;
  return [y, mo, d].filter(Boolean).join('-');
}

/**
 * A FHIR `dateTime` from an HL7 value, or undefined when it is not a valid HL7 date/time.
 * @param defaultZone IANA zone name (`America/Chicago`) or fixed offset (`+02:00`, `Z`) used when the value has no offset.
 */
export function hl7ToFhirDateTime(value: string, defaultZone: string): string | undefined {
  const m = DTM.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const date = hl7ToFhirDate(`${y}${mo ?? ''}${d ?? ''}`);
  if (!date) return undefined;
  if (tz && (Number(tz.slice(1, 3)) > 14 || Number(tz.slice(3)) > 59)) return undefined; // no zone is +99:99 away
  if (!h) return date;
  if (Number(h) > 23 || Number(mi ?? 0) > 59 || Number(s ?? 0) > 59) return undefined;
  const time = `${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}`;
  const zone = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : zoneOffset(defaultZone, date, time);
  return `${date}T${time}${zone === '+00:00' && !tz ? 'Z' : zone}`;
}

/** A FHIR `instant` (always seconds and zone) or undefined when the value lacks a time. */
export function hl7ToFhirInstant(value: string, defaultZone: string): string | undefined {
  const dt = hl7ToFhirDateTime(value, defaultZone);
  return dt && dt.includes('T') ? dt : undefined;
}

function validMonth(mo: string): boolean {
  const n = Number(mo);
  return n >= 1 && n <= 12;
}

function validDay(y: string, mo: string, d: string): boolean {
  const n = Number(d);
  const days = new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate();
  return n >= 1 && n <= days;
}

const offsets = new Map<string, string>();

/** The UTC offset (`+hh:mm`) of a zone at a local wall-clock time (memoised per zone, day and minute). */
export function zoneOffset(zone: string, date: string, time: string): string {
  if (zone === 'Z' || zone === 'UTC') return '+00:00';
  if (/^[+-]\d{2}:\d{2}$/.test(zone)) return zone;
  const key = `${zone} ${date} ${time.slice(0, 5)}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    offset = computeOffset(zone, date, time);
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

function computeOffset(zone: string, date: string, time: string): string {
  // Treat the wall time as UTC, ask the zone its offset there, and correct once for DST edges.
  const wall = Date.parse(`${date.length === 10 ? date : `${date}-01`.slice(0, 10)}T${time.slice(0, 8)}Z`);
  let offset = offsetMinutes(zone, wall);
  offset = offsetMinutes(zone, wall - offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function offsetMinutes(zone: string, epochMs: number): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    formatters.set(zone, f);
  }
  const name = f.formatToParts(new Date(epochMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/** Validates a zone setting at configuration time (throws RangeError for an unknown IANA name). */
export function assertZone(zone: string): void {
  if (zone === 'Z' || zone === 'UTC' || /^[+-]\d{2}:\d{2}$/.test(zone)) return;
  new Intl.DateTimeFormat('en-US', { timeZone: zone });
}
