/**
 * The time zone of a database's date-time columns. OpenMRS (like most EHRs) stores DATETIME
 * values as the server's local wall-clock time, without an offset; this converts between such
 * values and instants, for any IANA zone, with only the built-in `Intl` time zone data.
 */

/** `YYYY-MM-DD HH:MM:SS`: the text every dialect returns for a date-time column. */
const WALL_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/;
/** Offsets change at most at quarter hours (UTC): one cached offset per quarter hour is exact. */
const BUCKET_MS = 15 * 60_000;
const CACHE_LIMIT = 50_000;

export class WallClock {
  readonly zone: string;
  readonly #utc: boolean;
  readonly #format: Intl.DateTimeFormat | undefined;
  readonly #offsets = new Map<number, number>();

  /** Throws a RangeError for a zone name the runtime does not know. */
  constructor(zone: string) {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    this.zone = format.resolvedOptions().timeZone;
    this.#utc = this.zone === 'UTC' || this.zone === 'Etc/UTC';
    this.#format = this.#utc ? undefined : format;
  }

  /** Milliseconds the zone's wall clock is ahead of UTC at this instant. */
  offsetAt(ms: number): number {
    if (!this.#format) return 0;
    const bucket = Math.floor(ms / BUCKET_MS);
    const cached = this.#offsets.get(bucket);
    if (cached !== undefined) return cached;
    const at = bucket * BUCKET_MS;
    const parts: Record<string, number> = {};
    for (const p of this.#format.formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    const wall = new Date(0);
    wall.setUTCFullYear(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1);
    wall.setUTCHours(parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, 0);
    const offset = wall.getTime() - at;
    if (this.#offsets.size >= CACHE_LIMIT) this.#offsets.clear();
    this.#offsets.set(bucket, offset);
    return offset;
  }

  /** The wall-clock reading of an instant, as epoch ms of the same reading in UTC. */
  toWall(ms: number): number {
    return ms + this.offsetAt(ms);
  }

  /**
   * The instant a wall-clock reading (as epoch ms of the same reading in UTC) stands for. A
   * reading skipped by a DST gap is taken with the offset before the gap; a reading repeated at
   * the end of DST is taken as the earlier instant.
   */
  fromWall(wall: number): number {
    if (!this.#format) return wall;
    const before = this.offsetAt(wall - 86_400_000);
    const after = this.offsetAt(wall + 86_400_000);
    for (const offset of before >= after ? [before, after] : [after, before]) {
      if (this.offsetAt(wall - offset) === offset) return wall - offset;
    }
    return wall - before;
  }

  /** A date-time column value (`YYYY-MM-DD HH:MM:SS[.fff]`) → FHIR instant in UTC; `undefined` if it is not one. */
  instantOf(text: string): string | undefined {
    const m = WALL_RE.exec(text);
    if (!m) return undefined;
    if (!this.#format) return `${text.slice(0, 10)}T${text.slice(11, 19)}Z`;
    const wall = new Date(0);
    wall.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    wall.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
    return `${new Date(this.fromWall(wall.getTime())).toISOString().slice(0, 19)}Z`;
  }
}
