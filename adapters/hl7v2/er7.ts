/**
 * HL7 v2 ER7 ("pipe and hat") parsing, for reading only.
 *
 * Why not @medplum/core's Hl7Message: it leaves escape sequences encoded and mixes 0-based and
 * 1-based indices. Here every position is 1-based as in the HL7 standard (field, repetition,
 * component, subcomponent), MSH numbering follows HL7 (MSH-1 is the field separator), the
 * message's own delimiters from MSH-1/MSH-2 are honoured, and escapes are decoded only after
 * splitting, at the leaves, which is the one correct order (`\F\` inside a value is data).
 */

export interface Delimiters {
  readonly field: string;
  readonly component: string;
  readonly repetition: string;
  readonly escape: string;
  readonly subcomponent: string;
}

export class Er7ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Er7ParseError';
  }
}

/** One segment: `fields[n]` is HL7 field n (for MSH, fields[1] is the field separator). */
export class Er7Segment {
  readonly name: string;
  readonly raw: string;
  readonly #fields: readonly string[];
  readonly #delimiters: Delimiters;
  /** Fields split and decoded once, on first use (mappers read the same fields many times). */
  readonly #parsed = new Map<number, Er7Field[]>();

  constructor(raw: string, delimiters: Delimiters) {
    this.raw = raw;
    this.#delimiters = delimiters;
    const parts = raw.split(delimiters.field);
    this.name = parts[0] ?? '';
    if (this.name === 'MSH' || this.name === 'FHS' || this.name === 'BHS') {
      // MSH-1 is the separator itself, MSH-2 the encoding characters (never split).
      this.#fields = [this.name, delimiters.field, ...parts.slice(1)];
    } else {
      this.#fields = parts;
    }
  }

  /** Raw (still escaped) text of field n, `''` when absent. */
  rawField(n: number): string {
    return this.#fields[n] ?? '';
  }

  /** Number of the last field present. */
  get fieldCount(): number {
    return this.#fields.length - 1;
  }

  /** Whether field n is the HL7 explicit null `""` (meaning: delete the value the receiver holds). */
  isNull(n: number): boolean {
    return this.rawField(n) === '""';
  }

  /** Repetitions of field n, each as a list of components, each a list of subcomponents (decoded). */
  repetitions(n: number): Er7Field[] {
    const cached = this.#parsed.get(n);
    if (cached) return cached;
    const raw = this.rawField(n);
    let fields: Er7Field[];
    if (raw === '' || raw === '""') fields = [];
    else if (this.name === 'MSH' && (n === 1 || n === 2)) fields = [new Er7Field([[raw]])];
    else {
      const d = this.#delimiters;
      fields = raw
        .split(d.repetition)
        .filter((rep) => rep !== '')
        .map((rep) => new Er7Field(rep.split(d.component).map((c) => c.split(d.subcomponent).map((s) => unescapeEr7(s, d)))));
    }
    this.#parsed.set(n, fields);
    return fields;
  }

  /** First repetition of field n (an empty field when absent). */
  field(n: number): Er7Field {
    return this.repetitions(n)[0] ?? EMPTY_FIELD;
  }

  /** Decoded text of field n, component c (default 1), subcomponent s (default 1), first repetition. */
  get(n: number, c = 1, s = 1): string {
    return this.field(n).get(c, s);
  }
}

/** One repetition of a field: components × subcomponents, decoded, 1-based. */
export class Er7Field {
  readonly components: readonly (readonly string[])[];
  constructor(components: readonly (readonly string[])[]) {
    this.components = components;
  }
  get(c = 1, s = 1): string {
    return this.components[c - 1]?.[s - 1] ?? '';
  }
  /** A component with its subcomponents joined by `&` (for display of composite values). */
  component(c: number): readonly string[] {
    return this.components[c - 1] ?? [];
  }
  get isEmpty(): boolean {
    return this.components.every((c) => c.every((s) => s === ''));
  }
}

const EMPTY_FIELD = new Er7Field([]);

export class Er7Message {
  readonly segments: readonly Er7Segment[];
  readonly delimiters: Delimiters;

  constructor(segments: readonly Er7Segment[], delimiters: Delimiters) {
    this.segments = segments;
    this.delimiters = delimiters;
  }

  get msh(): Er7Segment {
    const msh = this.segments[0];
    if (!msh || msh.name !== 'MSH') throw new Er7ParseError('message does not start with MSH');
    return msh;
  }

  segment(name: string): Er7Segment | undefined {
    return this.segments.find((s) => s.name === name);
  }

  all(name: string): Er7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** MSH-9 split: message code, trigger event, structure. */
  get messageType(): { code: string; trigger: string; structure: string } {
    const f = this.msh.field(9);
    return { code: f.get(1).toUpperCase(), trigger: f.get(2).toUpperCase(), structure: f.get(3).toUpperCase() };
  }

  get controlId(): string {
    return this.msh.get(10);
  }

  /**
   * The sending system, MSH-3 + MSH-4 as sent: with MSH-10 the de-duplication key, and the
   * namespace of the numbers (orders, visits) the sender does not qualify itself.
   */
  get sender(): string {
    return `${this.msh.rawField(3)}|${this.msh.rawField(4)}`;
  }
}

/** Splits text into segment strings, accepting CR, LF or CRLF separators and dropping blank lines. */
export function splitSegments(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');
}

/** Parses one ER7 message (must start with MSH). Throws Er7ParseError on an unusable header. */
export function parseEr7(text: string): Er7Message {
  const lines = splitSegments(text.replace(/^\uFEFF/, ''));
  const first = lines[0];
  if (!first || !first.startsWith('MSH') || first.length < 8) {
    throw new Er7ParseError('message does not start with an MSH segment');
  }
  const delimiters = readDelimiters(first);
  return new Er7Message(
    lines.map((line) => new Er7Segment(line, delimiters)),
    delimiters,
  );
}

function readDelimiters(msh: string): Delimiters {
  const field = msh[3] ?? '|';
  const encoding = msh.slice(4, msh.indexOf(field, 4) === -1 ? 8 : msh.indexOf(field, 4));
  const component = encoding[0] ?? '^';
  const repetition = encoding[1] ?? '~';
  const escape = encoding[2] ?? '\\';
  const subcomponent = encoding[3] ?? '&';
  const all = [field, component, repetition, escape, subcomponent];
  if (new Set(all).size !== all.length || all.some((ch) => /[A-Za-z0-9\s]/.test(ch))) {
    throw new Er7ParseError('MSH-1/MSH-2 encoding characters are invalid');
  }
  return { field, component, repetition, escape, subcomponent };
}

/**
 * Decodes HL7 escape sequences in one leaf value: \F\ \S\ \T\ \R\ \E\ (delimiters), \.br\ and
 * \.sp\ (line breaks), \Xhh..\ (hex bytes; consecutive ones are read together, as UTF-8 when
 * valid, else Latin-1, so a character split across two escapes survives). Highlighting (\H\ \N\),
 * formatting commands (\.in\, \.ce\...), character-set switches (\C..\ \M..\) and locally
 * defined escapes (\Z..\) are dropped. Anything else is not an escape (a sender's unescaped
 * `C:\path\file`, say) and is kept as it was written.
 */
export function unescapeEr7(value: string, d: Delimiters): string {
  const e = d.escape;
  if (!e || !value.includes(e)) return value;
  let out = '';
  let hex = '';
  const flushHex = (): void => {
    if (hex) out += decodeHex(hex);
    hex = '';
  };
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch !== e) {
      flushHex();
      out += ch;
      i++;
      continue;
    }
    const end = value.indexOf(e, i + 1);
    if (end === -1) {
      flushHex();
      out += value.slice(i); // unterminated: keep as data
      break;
    }
    const code = value.slice(i + 1, end);
    i = end + 1;
    if (/^X([0-9A-Fa-f]{2})+$/.test(code)) {
      hex += code.slice(1);
      continue;
    }
    flushHex();
    switch (code) {
      case 'F': out += d.field; break;
      case 'S': out += d.component; break;
      case 'T': out += d.subcomponent; break;
      case 'R': out += d.repetition; break;
      case 'E': out += d.escape; break;
      case 'H': case 'N': break;
      default:
        if (code === '.br' || /^\.sp\d*$/.test(code)) out += '\n';
        else if (!FORMATTING.test(code)) out += `${e}${code}${e}`;
    }
  }
  flushHex();
  return out;
}

/** Escapes that format or switch character sets: dropped from the text. */
const FORMATTING = /^(\.(in|ti|sk)[+-]?\d*|\.(fi|nf|ce)|[CM][0-9A-Fa-f]{4,}|Z.*)$/;

function decodeHex(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  const utf8 = bytes.toString('utf8');
  // Control characters other than tab and line breaks are not text: dropped (NUL cannot be stored).
  return (utf8.includes('\uFFFD') ? bytes.toString('latin1') : utf8).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

/** Escapes a value for inclusion in an ER7 field (used for ACK texts that echo data). */
export function escapeEr7(value: string, d: Delimiters): string {
  let out = '';
  for (const ch of value) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}

/**
 * Decodes the bytes of one message by its MSH-18 character set: ASCII and UTF-8 (`UNICODE UTF-8`,
 * or empty, the default) as UTF-8; `8859/1` (and other single-byte sets we cannot map) as Latin-1.
 * MSH is ASCII in every supported set, so it is read before the body is decoded.
 */
export function decodeMessageBytes(bytes: Buffer, defaultCharset: 'utf8' | 'latin1' = 'utf8'): string {
  const headEnd = bytes.findIndex((b) => b === 0x0d || b === 0x0a);
  const head = bytes.subarray(0, headEnd === -1 ? bytes.length : headEnd).toString('latin1');
  const charset = charsetOf(head);
  if (charset === 'utf8') return bytes.toString('utf8');
  if (charset === 'latin1') return bytes.toString('latin1');
  return bytes.toString(defaultCharset);
}

function charsetOf(mshLine: string): 'utf8' | 'latin1' | undefined {
  if (!mshLine.startsWith('MSH') || mshLine.length < 4) return undefined;
  const sep = mshLine[3]!;
  const rep = mshLine[5] ?? '~';
  const msh18 = (mshLine.split(sep)[17] ?? '').split(rep)[0]?.trim().toUpperCase() ?? '';
  if (msh18 === '') return undefined;
  if (msh18 === 'UNICODE UTF-8' || msh18 === 'UNICODE' || msh18 === 'ASCII') return 'utf8';
  if (msh18.startsWith('8859/')) return 'latin1';
  return undefined;
}
