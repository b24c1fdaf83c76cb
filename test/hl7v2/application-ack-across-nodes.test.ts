/**
 * Enhanced-mode application ACKs when the node that listens is not the node that converts: two
 * sources on one PostgreSQL store, A listening without a converter, B converting without a
 * listener. The sender on A still gets CA, then AA (or AE with the reason) once B converted.
 */
import t from 'tap';
import pg from 'pg';
import type { Observation } from '@medplum/fhirtypes';
import { localId, message, msaOf, msh, openSource, pid, RawMllp, ramTmpdir, seg } from './support/hl7v2-harness.ts';

const DATABASE = 'medrec_hl7v2_appack_test';

t.test('the listening node sends the application ACKs of messages another node converted', async (t) => {
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const store = { kind: 'postgres', connectionString: `postgres://postgres@127.0.0.1:5432/${DATABASE}`, schema: 'hl7v2_appack' };
  const listening = await openSource({ store, convert: false }, 'hl7-appack', ramTmpdir());
  t.teardown(() => listening.close());
  const converting = await openSource({ store, mllp: false }, 'hl7-appack', ramTmpdir());
  t.teardown(() => converting.close());
  const raw = await RawMllp.open(listening.port);
  t.teardown(() => raw.close());

  const oru = (control: string, mrn: string, value: string): string => message([
    msh({ type: 'ORU^R01^ORU_R01', control, acceptAck: 'AL', appAck: 'AL' }), pid(mrn),
    seg('OBR', { 1: '1', 3: 'ACC1^LAB', 4: '2345-7^Glucose^LN', 25: 'F' }), `OBX|1|NM|2345-7^Glucose^LN||${value}|mg/dL|||||F`,
  ]);
  raw.write(RawMllp.frame(oru('APP-1', '6001', '95')));
  await raw.waitFor(2);
  t.same(raw.frames.map(msaOf), [{ code: 'CA', controlId: 'APP-1' }, { code: 'AA', controlId: 'APP-1' }], 'CA once stored, AA once the other node converted');
  t.same((await converting.all('Observation')).map((o) => (o as Observation).subject?.reference), [`Patient/${localId('6001')}`], 'converted by the other node');

  // The same accession for another patient: accepted (CA), then refused by conversion (AE 205).
  raw.write(RawMllp.frame(oru('APP-2', '6002', '300')));
  await raw.waitFor(4);
  t.same(raw.frames.slice(2).map(msaOf), [{ code: 'CA', controlId: 'APP-2' }, { code: 'AE', controlId: 'APP-2' }]);
  t.match(raw.frames[3], /\rERR\|\|\|205\^[^^|]*already filed under another patient\^HL70357\|E\|/, 'the reason the converter found');
});
