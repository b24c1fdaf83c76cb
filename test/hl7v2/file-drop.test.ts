/**
 * The directory drop: FHS/BHS batches and plain multi-message files are accepted message by
 * message (each decoded by its own MSH-18); good files move to processed/, files with refused
 * messages to failed/, each beside its report (every message's acknowledgement); a file that
 * cannot be handled waits for the next poll.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import type { Patient } from '@medplum/fhirtypes';
import { splitBatch } from '../../adapters/hl7v2/file-drop.ts';
import { Hl7v2Source } from '../../adapters/hl7v2/hl7v2-adapter.ts';
import { client, localId, message, msh, openSource, pid, sendWithClient, seg } from './support/hl7v2-harness.ts';

const adt = (control: string, mrn: string, sep = '\r'): string =>
  message([msh({ type: 'ADT^A04^ADT_A01', control }), pid(mrn), seg('PV1', { 1: '1', 2: 'O', 19: `V${mrn}` })], sep);

t.test('splitBatch drops the FHS/BHS/BTS/FTS envelope and starts a message at each MSH', async (t) => {
  const batch = ['FHS|^~\\&|LAB|H||||20250101', 'BHS|^~\\&|LAB|H', adt('B-1', '1').trim(), adt('B-2', '2').trim(), 'BTS|2', 'FTS|1'].join('\r\n');
  const messages = splitBatch(`\uFEFF${batch}\r\n`);
  t.equal(messages.length, 2);
  t.ok(messages.every((m) => m.startsWith('MSH|') && !/BTS|FTS|BHS/.test(m)));
  t.same(splitBatch('no message here\n'), []);
});

t.test('files in the drop directory are accepted and moved aside, each beside its acknowledgement report', async (t) => {
  const drop = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-drop-'));
  const src = await openSource({ mllp: false, fileDrop: { dir: drop, pollMs: 3_600_000 } });
  t.teardown(() => src.close());

  writeFileSync(join(drop, 'batch-001.hl7'),
    ['FHS|^~\\&|ADT|H', 'BHS|^~\\&|ADT|H', adt('D-1', '9001').trim(), adt('D-2', '9002').trim(), 'BTS|2', 'FTS|1'].join('\n'));
  writeFileSync(join(drop, 'plain.txt'), adt('D-3', '9003', '\n') + '\n\n' + adt('D-1', '9001', '\r\n'));
  writeFileSync(join(drop, 'mixed.hl7'), adt('D-4', '9004') + message([msh({ type: 'ZZZ^Z01', control: 'D-5' }), pid('9005')]));
  writeFileSync(join(drop, 'junk.bin'), 'not hl7 at all');
  await src.source.scanFileDrop();

  const processed = readdirSync(join(drop, 'processed'));
  const failed = readdirSync(join(drop, 'failed'));
  const moved = (dir: string[]): string[] => dir.filter((f) => !f.endsWith('.report.txt')).map((f) => f.replace(/^[^Z]*Z-/, '')).sort();
  t.same(readdirSync(drop).filter((f) => f !== 'processed' && f !== 'failed'), [], 'nothing left in the drop');
  t.same(moved(processed), ['batch-001.hl7', 'plain.txt'], 'batch and plain file processed');
  t.same(moved(failed), ['junk.bin', 'mixed.hl7'], 'mixed and junk files failed');
  for (const [dir, names] of [['processed', processed], ['failed', failed]] as const) {
    t.same(names.filter((f) => f.endsWith('.report.txt')).sort(), names.filter((f) => !f.endsWith('.report.txt')).map((f) => `${f}.report.txt`).sort(), `every file in ${dir}/ has its report beside it`);
  }
  const reportOf = (dir: string, names: string[], name: string): string => readFileSync(join(drop, dir, names.find((f) => f.endsWith(`-${name}.report.txt`))!), 'utf8');
  t.equal(reportOf('processed', processed, 'batch-001.hl7'), 'message 1 (MSH-10 D-1): AA accepted\nmessage 2 (MSH-10 D-2): AA accepted\n');
  t.equal(reportOf('processed', processed, 'plain.txt'), 'message 1 (MSH-10 D-3): AA accepted\nmessage 2 (MSH-10 D-1): AA duplicate of an accepted message, not applied again\n',
    'a message already accepted from another file is reported as a duplicate');
  const report = reportOf('failed', failed, 'mixed.hl7');
  t.equal(report, 'message 1 (MSH-10 D-4): AA accepted\nmessage 2 (MSH-10 D-5): AR 200: message type ZZZ is not supported\n');
  t.notMatch(report, /9005/, 'the report names positions and control ids, not patient data');
  t.equal(reportOf('failed', failed, 'junk.bin'), 'no HL7 message (no MSH segment) in file\n');

  const patients = (await src.all('Patient')).map((p) => p.id).sort();
  t.same(patients, ['9001', '9002', '9003', '9004'].map(localId), 'valid messages from every file accepted; the D-1 repeat was a duplicate');
});

t.test('each message of a batch is decoded by its own MSH-18, whatever the FHS line says', async (t) => {
  const drop = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-drop-'));
  const src = await openSource({ mllp: false, fileDrop: { dir: drop, pollMs: 3_600_000 } });
  t.teardown(() => src.close());
  const named = (control: string, mrn: string, charset: string): string =>
    message([msh({ type: 'ADT^A08^ADT_A01', control, charset }), pid(mrn, { 5: 'Müller^Zoë' })]);
  const bytes = Buffer.concat([
    Buffer.from('\uFEFFFHS|^~\\&|ADT|H\rBHS|^~\\&|ADT|H\r', 'utf8'),
    Buffer.from(named('C-1', '9101', '8859/1'), 'latin1'),
    Buffer.from(named('C-2', '9102', 'UNICODE UTF-8'), 'utf8'),
    Buffer.from(named('C-3', '9103', '8859/1'), 'latin1'),
    Buffer.from('BTS|3\rFTS|1\r', 'latin1'),
  ]);
  writeFileSync(join(drop, 'mixed-charsets.hl7'), bytes);
  writeFileSync(join(drop, 'plain-latin1.hl7'), Buffer.from(named('C-4', '9104', '8859/1'), 'latin1'));
  await src.source.scanFileDrop();
  const patients = (await src.all('Patient')) as Patient[];
  t.same(patients.map((p) => [p.id, p.name?.[0]?.family, p.name?.[0]?.given?.[0]]).sort(),
    ['9101', '9102', '9103', '9104'].map((mrn) => [localId(mrn), 'Müller', 'Zoë']));
});

t.test('a file that cannot be moved is logged without its name and retried; the server keeps running', async (t) => {
  const drop = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-drop-'));
  const lines: string[] = [];
  const log = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } }).log;
  const source = await Hl7v2Source.open(
    { id: 'hl7-drop-fault', kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000001', name: 'Test hospital',
      options: { mllp: { port: 0 }, fileDrop: { dir: drop, pollMs: 50 } } },
    { log, dataDir: mkdtempSync(join(tmpdir(), 'medrec-hl7v2-')) },
  );
  t.teardown(() => source.close());
  // processed/ is gone and a dangling link stands in its way: the move cannot succeed.
  rmSync(join(drop, 'processed'), { recursive: true });
  symlinkSync(join(drop, 'nowhere', 'processed'), join(drop, 'processed'));
  writeFileSync(join(drop, 'Doe-Jane-9201.hl7'), adt('F-1', '9201'));
  while (!lines.some((l) => l.includes('could not be processed'))) await sleep(20); // the poll loop hit the fault
  const hl7 = client(source.mllpPort!);
  t.teardown(() => hl7.close());
  t.equal((await sendWithClient(hl7, adt('F-2', '9202'))).code, 'AA', 'the listener still answers');
  t.ok(existsSync(join(drop, 'Doe-Jane-9201.hl7')), 'the file is left for the next poll');
  t.notOk(lines.some((l) => l.includes('9201') || l.includes('Doe')), 'no file name in the log');
  t.equal(lines.filter((l) => l.includes('could not be processed')).length, 1, 'logged once, not at every poll');

  rmSync(join(drop, 'processed'));
  // A scan of the poll loop may be under way (and may have met the fault): scan until the file went.
  while (existsSync(join(drop, 'Doe-Jane-9201.hl7'))) await source.scanFileDrop();
  t.same(readdirSync(join(drop, 'processed')).map((f) => f.replace(/^[^Z]*Z-/, '')).sort(), ['Doe-Jane-9201.hl7', 'Doe-Jane-9201.hl7.report.txt'],
    'processed once the fault is gone, into a recreated processed/, with one report');
  await source.drain();
  t.ok(await source.store.read('Patient', localId('9201')));
});
