/**
 * Test support for the HL7v2 adapter: a message builder that places fields by number (no pipe
 * counting), a source on a temp SQLite store with a loopback MLLP listener, a real MLLP client
 * (@medplum/hl7's Hl7Client) and a raw socket sender for framing tests.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import type { Resource } from '@medplum/fhirtypes';
import { Hl7v2Source } from '../../../adapters/hl7v2/hl7v2-adapter.ts';

/** One segment from numbered fields: seg('PID', { 3: '123^^^HOSP^MR', 8: 'F' }). */
export function seg(name: string, fields: Readonly<Record<number, string>>): string {
  const numbers = Object.keys(fields).map(Number);
  const last = numbers.length ? Math.max(...numbers) : 0;
  const values: string[] = [];
  for (let i = 1; i <= last; i++) values.push(fields[i] ?? '');
  return [name, ...values].join('|');
}

export interface MshFields {
  readonly type: string; // e.g. ADT^A01^ADT_A01
  readonly control: string;
  readonly app?: string;
  readonly facility?: string;
  readonly time?: string;
  readonly processing?: string;
  readonly version?: string;
  readonly acceptAck?: string;
  readonly appAck?: string;
  readonly charset?: string;
}

export function msh(f: MshFields): string {
  // Numbered as in HL7: MSH-1 is the field separator, MSH-2 the encoding characters.
  const fields: Record<number, string> = {
    3: f.app ?? 'TESTADT', 4: f.facility ?? 'TESTHOSP', 5: 'MEDREC', 6: 'MEDREC', 7: f.time ?? '20250101120000-0500',
    9: f.type, 10: f.control, 11: f.processing ?? 'P', 12: f.version ?? '2.5.1',
  };
  if (f.acceptAck) fields[15] = f.acceptAck;
  if (f.appAck) fields[16] = f.appAck;
  if (f.charset) fields[18] = f.charset;
  const last = Math.max(...Object.keys(fields).map(Number));
  const values: string[] = [];
  for (let i = 3; i <= last; i++) values.push(fields[i] ?? '');
  return `MSH|^~\\&|${values.join('|')}`;
}

/** A whole message from segment lines, joined by CR (or another separator for CR/LF tests). */
export function message(segments: readonly string[], separator = '\r'): string {
  return segments.join(separator) + separator;
}

export function pid(mrn: string, extra: Readonly<Record<number, string>> = {}): string {
  return seg('PID', { 1: '1', 3: `${mrn}^^^TESTHOSP^MR`, 5: 'Doe^Jane', 7: '19800302', 8: 'F', ...extra });
}

/** Local patient id the adapter derives for `pid(mrn)`. */
export function localId(mrn: string): string {
  return `TESTHOSP-${mrn}`;
}

export const silentLog = Fastify({ logger: false }).log;

export interface SourceUnderTest {
  readonly source: Hl7v2Source;
  readonly port: number;
  readonly dir: string;
  readonly changes: string[][];
  close(): Promise<void>;
  /** Every resource of a type (all patients), after conversion caught up. */
  all(resourceType: string): Promise<Resource[]>;
}

/** A RAM-backed temp dir where the test is not about durability (fsync costs ms on shared disks). */
export function ramTmpdir(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

export async function openSource(
  options: Record<string, unknown> = {},
  id = 'hl7-test',
  base = tmpdir(),
  extraContext: { readonly redisUrl?: string } = {},
): Promise<SourceUnderTest> {
  const dir = mkdtempSync(join(base, 'medrec-hl7v2-'));
  const changes: string[][] = [];
  const source = await Hl7v2Source.open(
    { id, kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000001', name: 'Test hospital', options: { mllp: { port: 0 }, ...options } },
    { log: silentLog, dataDir: dir, recordsChanged: (_s, ids) => changes.push([...ids]), ...extraContext },
  );
  return {
    source,
    port: source.mllpPort ?? 0,
    dir,
    changes,
    close: () => source.close(),
    all: async (resourceType) => {
      await source.drain();
      return [...(await source.search({ resourceType, filters: [], count: 100_000 }, new AbortController().signal)).resources];
    },
  };
}

/** Sends a message with @medplum/hl7's client and returns the ACK's MSA-1, MSA-3 and ERR text. */
export async function sendWithClient(
  client: Hl7Client,
  text: string,
  returnAck: 'first' | 'application' = 'first',
): Promise<{ code: string; text: string; err: string; ack: string }> {
  // Our own timeout: Hl7Client's `timeoutMs` timer is never cleared and would hold the process open.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no ACK within 20 s')), 20_000);
  });
  const ack = await Promise.race([client.sendAndWait(Hl7Message.parse(text), { returnAck }), timeout]).finally(() => clearTimeout(timer));
  const raw = ack.toString();
  const msa = raw.split(/\r/).find((s) => s.startsWith('MSA')) ?? '';
  const err = raw.split(/\r/).find((s) => s.startsWith('ERR')) ?? '';
  return { code: msa.split('|')[1] ?? '', text: msa.split('|')[3] ?? '', err, ack: raw };
}

export function client(port: number, encoding?: string): Hl7Client {
  return new Hl7Client({ host: '127.0.0.1', port, ...(encoding ? { encoding } : {}) });
}

/** A raw TCP sender that collects every MLLP frame the listener sends back. */
export class RawMllp {
  readonly socket: Socket;
  readonly frames: string[] = [];
  /** How ACK bytes are decoded (the listener answers in the message's charset, UTF-8 by default). */
  encoding: BufferEncoding = 'utf8';
  #buffer = Buffer.alloc(0);
  #waiters: { count: number; resolve: () => void }[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (data: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, data]);
      for (;;) {
        const start = this.#buffer.indexOf(0x0b);
        const end = this.#buffer.indexOf(0x1c, start + 1);
        if (start === -1 || end === -1) break;
        this.frames.push(this.#buffer.subarray(start + 1, end).toString(this.encoding));
        this.#buffer = this.#buffer.subarray(end + 2);
      }
      this.#waiters = this.#waiters.filter((w) => (this.frames.length >= w.count ? (w.resolve(), false) : true));
    });
  }

  static open(port: number): Promise<RawMllp> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawMllp(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  static frame(text: string | Buffer): Buffer {
    const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    return Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])]);
  }

  /** Resolves once `count` frames have arrived in total. */
  waitFor(count: number): Promise<void> {
    if (this.frames.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  close(): void {
    this.socket.destroy();
  }
}

export function msaOf(frame: string): { code: string; controlId: string } {
  const msa = frame.split(/\r/).find((s) => s.startsWith('MSA')) ?? '';
  const [, code = '', controlId = ''] = msa.split('|');
  return { code, controlId };
}
