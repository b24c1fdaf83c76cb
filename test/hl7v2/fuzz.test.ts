/**
 * Fuzz: 20,000 mutated messages (seeded, reproducible) streamed over MLLP. The listener must
 * answer every frame with a well-formed ACK, never crash, and every accepted message must either
 * convert or land in the dead letters with an HL7 reason, never an internal error.
 */
import t from 'tap';
import { openSource, RawMllp, ramTmpdir } from './support/hl7v2-harness.ts';
import { readFileSync } from 'node:fs';
import { HL7_DEMO_FEED } from '../../adapters/hl7v2/demo-feed-source.ts';
import { splitBatch } from '../../adapters/hl7v2/file-drop.ts';

const TOTAL = 20_000;
const WINDOW = 500;

/** Mulberry32: small seeded PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SPICE = ['|', '^', '~', '\\', '&', '\r', '\n', '""', '\\F\\', '\\X', '\\XZZ\\', '\\.br\\', '\\', '99999999999999999999', '-', '+', 'é', '\u0000', '20251399', '2025'];

function mutate(base: string, random: () => number, n: number): string {
  let text = base.replace(/\|([A-Z]+-[A-Z]+-\d+)\|P\|/, `|FZ-${n}|P|`);
  const edits = 1 + Math.floor(random() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * text.length);
    const r = random();
    if (r < 0.3) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 8));
    else if (r < 0.6) text = text.slice(0, at) + SPICE[Math.floor(random() * SPICE.length)] + text.slice(at);
    else if (r < 0.75) text = text.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 200)) + text.slice(at + 1);
    else if (r < 0.85) text = text.slice(0, at);
    else if (r < 0.95) {
      const lines = text.split('\r');
      const i = Math.floor(random() * lines.length);
      lines.splice(Math.floor(random() * lines.length), 0, lines[i] ?? '');
      text = lines.join('\r');
    } else text = text.split('\r').reverse().join('\r');
  }
  // VT and FS are MLLP framing bytes: inside a message they would (correctly) split frames.
  return text.replace(/[\x0b\x1c]/g, '?');
}

/** Whether a mutant asks for enhanced mode (MSH-15/16), where one frame may get 0 or 2 ACKs. */
function enhanced(text: string): boolean {
  const line = text.split(/\r|\n/, 1)[0] ?? '';
  if (!line.startsWith('MSH') || line.length < 4) return false;
  const fields = line.split(line[3]!);
  return (fields[14] ?? '') !== '' || (fields[15] ?? '') !== '';
}

/** MSA-1 of an ACK, read with the ACK's own field separator (it echoes the sender's). */
function ackCode(frame: string): string {
  const sep = frame[3] ?? '|';
  const msa = frame.split('\r').find((l) => l.startsWith(`MSA${sep}`)) ?? '';
  return msa.split(sep)[1] ?? '';
}

t.test('20,000 mutated messages: an ACK for every frame, no crash, no internal conversion error', async (t) => {
  const s = await openSource({}, 'hl7-fuzz', ramTmpdir());
  t.teardown(() => s.close());
  const corpus = splitBatch(readFileSync(HL7_DEMO_FEED, 'utf8'));
  const random = prng(0x5eed);
  const raw = await RawMllp.open(s.port);
  t.teardown(() => raw.close());

  for (let sent = 0; sent < TOTAL; ) {
    const frames: Buffer[] = [];
    for (let i = 0; i < WINDOW && sent < TOTAL; i++, sent++) {
      let mutant: string;
      do mutant = mutate(corpus[sent % corpus.length]!, random, sent);
      while (enhanced(mutant));
      frames.push(RawMllp.frame(mutant));
    }
    raw.write(Buffer.concat(frames));
    await raw.waitFor(sent);
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // any extra ACK would have arrived by now
  t.equal(raw.frames.length, TOTAL, 'exactly one ACK per frame');
  const codes = new Map<string, number>();
  let malformed = 0;
  for (const frame of raw.frames) {
    const code = ackCode(frame);
    // CA/CE/CR: a mutant whose MSH-15/16 the test's quick check did not see as set (enhanced mode).
    if (!frame.startsWith('MSH') || !['AA', 'AE', 'AR', 'CA', 'CE', 'CR'].includes(code)) malformed++;
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  t.equal(malformed, 0, 'every ACK is an MSH + MSA with an acknowledgement code');
  t.ok((codes.get('AA') ?? 0) > 1000, `many mutants still accepted (${JSON.stringify(Object.fromEntries(codes))})`);
  t.ok((codes.get('AR') ?? 0) + (codes.get('AE') ?? 0) > 1000, 'many refused');

  await s.source.drain();
  const letters = await s.source.store.deadLetters({ limit: 100_000 });
  const internal = letters.filter((l) => l.stage === 'conversion' && / 207 /.test(l.reason));
  t.same(internal.map((l) => l.reason).slice(0, 5), [], 'no accepted mutant crashed the converter');
  t.equal((await s.source.health(new AbortController().signal)).status, 'up', 'still up');
});
