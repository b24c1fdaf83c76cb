/**
 * Directory drop for batch files: FHS/BHS-wrapped batches and plain files holding many messages
 * (CR, LF or CRLF, optionally MLLP-framed). Each message goes through the same acceptance as
 * MLLP. A file whose messages were all accepted (or duplicates) moves to `processed/`, a file with
 * refused messages to `failed/`; either way beside a `<name>.report.txt`, the file's
 * acknowledgement: per message its position, MSH-10 and what an MLLP sender would have been
 * told (AA, AA duplicate, or the refusal's code and reason; no message content). The report is
 * written before the file moves, so a moved file always has one. Files are picked up after they have
 * stopped growing, so a half-copied file is never read. A file that cannot be read or moved (a
 * permission, a full disk, a vanished subdirectory) is logged and left for the next poll: one
 * bad file never stops the drop, let alone the server.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { decodeMessageBytes, splitSegments } from './er7.ts';
import { errorSummary, type AcceptanceOutcome, type MessageAcceptance } from './message-acceptance.ts';

/** Splits a batch file into messages: each MSH starts one; FHS/BHS/BTS/FTS envelopes are dropped. */
export function splitBatch(text: string): string[] {
  const cleaned = text.replace(/^\uFEFF/, '').replace(/[\x0b\x1c]/g, '\r');
  const messages: string[][] = [];
  for (const segment of splitSegments(cleaned)) {
    const name = segment.slice(0, 3);
    if (name === 'FHS' || name === 'BHS' || name === 'BTS' || name === 'FTS') continue;
    if (name === 'MSH') messages.push([segment]);
    else messages.at(-1)?.push(segment); // text before the first MSH is not a message
  }
  return messages.map((segments) => segments.join('\r') + '\r');
}

const CR = 0x0d;
const LF = 0x0a;
const VT = 0x0b;
const FS = 0x1c;

/**
 * Splits a batch file's bytes into messages, decoding each by its own MSH-18 character set (a
 * batch may mix UTF-8 and 8859/1 messages, and its FHS says nothing about theirs).
 */
export function decodeBatch(bytes: Buffer, defaultCharset: 'utf8' | 'latin1'): string[] {
  const starts: number[] = [];
  for (let i = bytes.indexOf('MSH'); i !== -1; i = bytes.indexOf('MSH', i + 3)) {
    const before = bytes[i - 1];
    const bom = i === 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    if (i === 0 || bom || before === CR || before === LF || before === VT || before === FS) starts.push(i);
  }
  // Bytes before the first MSH are the FHS/BHS envelope (or not a message): never decoded as one.
  return starts.flatMap((start, k) => splitBatch(decodeMessageBytes(bytes.subarray(start, starts[k + 1] ?? bytes.length), defaultCharset)));
}

export interface FileDropOptions {
  readonly dir: string;
  readonly pollMs: number;
  readonly defaultCharset: 'utf8' | 'latin1';
}

export interface FileReport {
  readonly file: string;
  readonly accepted: number;
  readonly duplicates: number;
  readonly refused: number;
}

export class FileDrop {
  readonly #acceptance: MessageAcceptance;
  readonly #options: FileDropOptions;
  readonly #log: FastifyBaseLogger;
  readonly #sizes = new Map<string, number>();
  /** Files whose last attempt failed (logged once, retried every poll). */
  readonly #failing = new Set<string>();
  #timer?: NodeJS.Timeout;
  #scan?: Promise<FileReport[]>;
  #closed = false;

  constructor(acceptance: MessageAcceptance, options: FileDropOptions, log: FastifyBaseLogger) {
    this.#acceptance = acceptance;
    this.#options = options;
    this.#log = log;
  }

  async start(): Promise<void> {
    await mkdir(join(this.#options.dir, 'processed'), { recursive: true });
    await mkdir(join(this.#options.dir, 'failed'), { recursive: true });
    this.#tick();
  }

  #tick(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.scan().finally(() => this.#tick());
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  /** One pass over the directory; files seen with the same size twice are processed. */
  scan(options: { settled?: boolean } = {}): Promise<FileReport[]> {
    this.#scan ??= this.#scanOnce(options.settled === true).finally(() => (this.#scan = undefined));
    return this.#scan;
  }

  async #scanOnce(assumeSettled: boolean): Promise<FileReport[]> {
    const reports: FileReport[] = [];
    let names: string[];
    try {
      names = (await readdir(this.#options.dir, { withFileTypes: true })).filter((d) => d.isFile() && !d.name.startsWith('.')).map((d) => d.name).sort();
    } catch (error) {
      this.#log.error({ err: errorSummary(error) }, 'hl7v2 file drop directory unreadable');
      return reports;
    }
    for (const name of names) {
      if (this.#closed) break;
      const path = join(this.#options.dir, name);
      try {
        const size = (await stat(path)).size;
        if (!assumeSettled && this.#sizes.get(name) !== size) {
          this.#sizes.set(name, size);
          continue;
        }
        this.#sizes.delete(name);
        reports.push(await this.#process(name, path));
        this.#failing.delete(name);
      } catch (error) {
        // No file name in the log: names can carry patient data. What was accepted is
        // de-duplicated when the file is read again.
        if (!this.#failing.has(name)) this.#log.error({ err: errorSummary(error) }, 'hl7v2 file drop: a file could not be processed; retrying at each poll');
        this.#failing.add(name);
      }
    }
    for (const name of this.#failing) if (!names.includes(name)) this.#failing.delete(name);
    return reports;
  }

  async #process(name: string, path: string): Promise<FileReport> {
    const messages = decodeBatch(await readFile(path), this.#options.defaultCharset);
    const outcomes: AcceptanceOutcome[] = await Promise.all(messages.map((m) => this.#acceptance.submit(m)));
    const counts = { file: name, accepted: 0, duplicates: 0, refused: 0 };
    // Nothing is lost: what was accepted is de-duplicated when the file is read again.
    if (outcomes.some((o) => o.kind === 'unavailable')) return counts;
    const lines = outcomes.map((o, i) => {
      const controlId = o.kind === 'unreadable' ? o.salvagedControlId : o.message.controlId;
      const at = `message ${i + 1} (MSH-10 ${controlId || 'unknown'})`;
      switch (o.kind) {
        case 'accepted':
          counts.accepted++;
          return `${at}: AA accepted`;
        case 'duplicate':
          counts.duplicates++;
          return `${at}: AA duplicate of an accepted message, not applied again`;
        case 'refused':
        case 'unreadable':
          counts.refused++;
          return `${at}: ${o.refusal.ackCode} ${o.refusal.hl7Code}: ${o.refusal.text}`;
        default:
          return `${at}: an ACK message (nothing to store or acknowledge)`;
      }
    });
    if (messages.length === 0) {
      counts.refused++;
      lines.push('no HL7 message (no MSH segment) in file');
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const target = join(this.#options.dir, counts.refused ? 'failed' : 'processed');
    const moved = join(target, `${stamp}-${name}`);
    await mkdir(target, { recursive: true }); // an operator may have removed it
    await writeFile(`${moved}.report.txt`, `${lines.join('\n')}\n`);
    try {
      await rename(path, moved);
    } catch (error) {
      await rm(`${moved}.report.txt`, { force: true }); // the retry writes the report anew
      throw error;
    }
    if (counts.refused) this.#log.warn({ refused: counts.refused, accepted: counts.accepted }, 'hl7v2 batch file had refused messages (see its report in failed/)');
    return counts;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#scan;
  }
}
