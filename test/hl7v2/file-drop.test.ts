/**
 * The directory drop: FHS/BHS batches and plain multi-message files are accepted message by
 * message; good files move to processed/, files with refused messages to failed/ with a report.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitBatch } from '../../adapters/hl7v2/file-drop.ts';
import { localId, message, msh, openSource, pid, seg } from './support/hl7v2-harness.ts';

const adt = (control: string, mrn: string, sep = '\r'): string =>
  message([msh({ type: 'ADT^A04^ADT_A01', control }), pid(mrn), seg('PV1', { 1: '1', 2: 'O', 19: `V${mrn}` })], sep);

t.test('splitBatch drops the FHS/BHS/BTS/FTS envelope and starts a message at each MSH', async (t) => {
  const batch = ['FHS|^~\\&|LAB|H||||20250101', 'BHS|^~\\&|LAB|H', adt('B-1', '1').trim(), adt('B-2', '2').trim(), 'BTS|2', 'FTS|1'].join('\r\n');
  const messages = splitBatch(`\uFEFF${batch}\r\n`);
  t.equal(messages.length, 2);
  t.ok(messages.every((m) => m.startsWith('MSH|') && !/BTS|FTS|BHS/.test(m)));
  t.same(splitBatch('no message here\n'), []);
});

t.test('files in the drop directory are accepted and moved aside; bad ones reported', async (t) => {
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
  t.same(readdirSync(drop).filter((f) => f !== 'processed' && f !== 'failed'), [], 'nothing left in the drop');
  t.equal(processed.length, 2, 'batch and plain file processed');
  t.ok(processed.some((f) => f.endsWith('batch-001.hl7')) && processed.some((f) => f.endsWith('plain.txt')));
  t.equal(failed.filter((f) => !f.endsWith('.report.txt')).length, 2, 'mixed and junk files failed');
  const report = readFileSync(join(drop, 'failed', failed.find((f) => f.endsWith('mixed.hl7.report.txt'))!), 'utf8');
  t.match(report, /message 2 \(MSH-10 D-5\): AR 200: message type ZZZ is not supported/);
  t.notMatch(report, /9005/, 'the report names positions and control ids, not patient data');
  const junk = readFileSync(join(drop, 'failed', failed.find((f) => f.endsWith('junk.bin.report.txt'))!), 'utf8');
  t.match(junk, /no HL7 message/);

  const patients = (await src.all('Patient')).map((p) => p.id).sort();
  t.same(patients, ['9001', '9002', '9003', '9004'].map(localId), 'valid messages from every file accepted; the D-1 repeat was a duplicate');
});
