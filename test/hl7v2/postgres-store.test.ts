/**
 * The PostgreSQL back end (production) behaves like the SQLite one: the demo feed streamed over
 * MLLP, duplicates not applied twice, a reused MSH-10 refused, search, dead letters, and the state kept across a reopen.
 * Uses a private database on the machine's PostgreSQL (see test/support/postgres-database.ts).
 */
import t from 'tap';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import type { AllergyIntolerance, MedicationRequest, Patient } from '@medplum/fhirtypes';
import { HL7_DEMO_FEED, HL7_DEMO_LOCAL_IDS } from '../../adapters/hl7v2/demo-feed-source.ts';
import { splitBatch } from '../../adapters/hl7v2/file-drop.ts';
import { createPostgresDatabase } from '../support/postgres-database.ts';
import { client, localId, message, msaOf, msh, openSource, pid, RawMllp, seg, sendWithClient } from './support/hl7v2-harness.ts';

const database = await createPostgresDatabase('medrec_hl7v2');
t.teardown(() => database.drop());
const URL = database.url;

t.test('PostgreSQL store', async (t) => {
  const options = { store: { kind: 'postgres', connectionString: URL, schema: 'hl7v2_pgtest' } };

  const s = await openSource(options, 'hl7-pg');
  const hl7 = client(s.port);
  const feed = splitBatch(readFileSync(HL7_DEMO_FEED, 'utf8'));
  for (const m of feed) t.equal((await sendWithClient(hl7, m)).code, 'AA');
  const duplicate = await sendWithClient(hl7, feed[0]!);
  t.match(duplicate.text, /duplicate/, 'duplicate detected by the unique constraint');
  const reused = await sendWithClient(hl7, feed[0]!.replace(/\r$/, '\rZXX|changed\r'));
  t.equal(reused.code, 'AE', 'the same MSH-10 with other content is refused');
  t.match(reused.err, /\|205\^/);
  const refused = await sendWithClient(hl7, message([msh({ type: 'ADT^A01^ADT_A01', control: 'PG-BAD' }), 'PID|1']));
  t.equal(refused.code, 'AE');
  await hl7.close();

  await s.source.drain();
  const signal = new AbortController().signal;
  const alice = await s.source.search({ resourceType: 'MedicationRequest', filters: [], patients: [HL7_DEMO_LOCAL_IDS.alice], count: 50 }, signal);
  t.equal(alice.resources.length, 2, "alice's RDE and OMP orders");
  t.ok((alice.resources as MedicationRequest[]).every((r) => r.medicationReference?.reference?.startsWith('Medication/')));
  const patients = (await s.all('Patient')) as Patient[];
  t.same(patients.map((p) => p.id).sort(), Object.values(HL7_DEMO_LOCAL_IDS).sort());
  t.equal(patients.find((p) => p.id === HL7_DEMO_LOCAL_IDS.alice)?.meta?.versionId, '2', 'A04 then A08: one Patient, two versions');
  t.same((await s.source.store.deadLetters({ limit: 10 })).map((l) => l.controlId), ['SLMC-ADT-0001', 'PG-BAD']);
  t.equal((await s.source.health(signal)).status, 'up');
  await s.close();

  // A second node (or a restart) on the same schema sees everything and keeps de-duplicating.
  const again = await openSource(options, 'hl7-pg');
  t.teardown(() => again.close());
  t.equal((await again.all('Observation')).length, 7);
  const [outcome, inBatch, conflict] = await again.source.acceptText(feed[1]! + feed[1]! + feed[1]!.replace(/\r$/, '\rZXX|changed\r'));
  t.equal(outcome?.kind, 'duplicate');
  t.equal(inBatch?.kind, 'duplicate', 'a second copy in the same commit is a duplicate');
  t.equal(conflict?.kind, 'refused', 'other content under the same key in the same commit is refused');
  const [fresh] = await again.source.acceptText(message([msh({ type: 'ADT^A28^ADT_A05', control: 'PG-NEW' }), pid('8800')]));
  t.equal(fresh?.kind, 'accepted');
  t.equal((await again.all('Patient')).length, 4);

  // A40 on PostgreSQL: records move, the allergy is re-keyed for the survivor (delete + upsert).
  await again.source.acceptText([
    message([msh({ type: 'ADT^A04^ADT_A01', control: 'PGM-1' }), pid('8101'), 'AL1|1|DA|2670^Codeine^RXNORM']),
    message([msh({ type: 'ADT^A28^ADT_A05', control: 'PGM-2' }), pid('8102')]),
    message([msh({ type: 'ADT^A40^ADT_A39', control: 'PGM-3' }), pid('8102'), seg('MRG', { 1: '8101^^^TESTHOSP^MR' })]),
    message([msh({ type: 'ADT^A08^ADT_A01', control: 'PGM-4' }), pid('8102'), 'AL1|1|DA|2670^Codeine^RXNORM']),
  ].join(''));
  const codeine = ((await again.all('AllergyIntolerance')) as AllergyIntolerance[])
    .filter((a) => a.code?.coding?.[0]?.code === '2670' && /TESTHOSP-810[12]$/.test(a.patient.reference ?? ''));
  t.same(codeine.map((a) => a.patient.reference), [`Patient/${localId('8102')}`]);

  // Two nodes converting the same source: each message is applied once, in order.
  const other = await openSource({ ...options, mllp: false }, 'hl7-pg');
  t.teardown(() => other.close());
  const burst = Array.from({ length: 300 }, (_, n) =>
    message([msh({ type: 'ADT^A08^ADT_A01', control: `TWO-${n}` }), pid(String(8900 + (n % 10)), { 5: `Name${n}^Two` })]),
  );
  await Promise.all([again.source.acceptText(burst.join('')), other.source.acceptText('')]);
  await Promise.all([again.source.drain(), other.source.drain()]);
  const twoNodes = ((await other.all('Patient')) as Patient[]).filter((p) => p.id!.startsWith('TESTHOSP-89'));
  t.equal(twoNodes.length, 10);
  t.ok(twoNodes.every((p) => p.meta?.versionId === '30'), 'each patient updated exactly 30 times, no message applied twice');
  t.ok(twoNodes.every((p) => /^Name29\d$/.test(p.name?.[0]?.family ?? '')), 'the last message per patient won: order kept');
});

t.test('a message PostgreSQL could not store (NUL) is refused alone; its neighbours in the same commit are accepted', async (t) => {
  const s = await openSource({ store: { kind: 'postgres', connectionString: URL, schema: 'hl7v2_pgnul' } }, 'hl7-pgn');
  t.teardown(() => s.close());
  const raw = await RawMllp.open(s.port);
  t.teardown(() => raw.close());
  raw.write(Buffer.concat([
    RawMllp.frame(message([msh({ type: 'ADT^A08^ADT_A01', control: 'NUL-1' }), pid('1', { 5: 'Bad\u0000Name' })])),
    RawMllp.frame(message([msh({ type: 'ADT^A08^ADT_A01', control: 'NUL-2' }), pid('2')])),
  ]));
  await raw.waitFor(2);
  t.same(raw.frames.map(msaOf), [{ code: 'AR', controlId: 'NUL-1' }, { code: 'AA', controlId: 'NUL-2' }]);
  t.match((await s.source.store.deadLetters({ limit: 5 }))[0]?.raw, /Bad\\X00\\Name/, 'kept in the dead letters as a hex escape');
});

t.test('a message whose records the store refuses is quarantined alone; the rest of its batch converts', async (t) => {
  const s = await openSource({ mllp: false, store: { kind: 'postgres', connectionString: URL, schema: 'hl7v2_pgpoison' } }, 'hl7-pgp');
  t.teardown(() => s.close());
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  // Stands in for any value the database will not take: this schema refuses gender "other".
  await admin.query(`ALTER TABLE hl7v2_pgpoison.resources ADD CONSTRAINT refuse_other CHECK (body->>'gender' IS DISTINCT FROM 'other')`);
  await admin.end();
  const batch = [1, 2, 3].map((n) => message([msh({ type: 'ADT^A08^ADT_A01', control: `P-${n}` }), pid(String(n), { 8: n === 2 ? 'O' : 'F' })]));
  await s.source.acceptText(batch.join(''));
  await s.source.drain();
  t.same((await s.all('Patient')).map((p) => p.id).sort(), [localId('1'), localId('3')], 'the neighbours converted');
  const letters = await s.source.store.deadLetters({ limit: 5 });
  t.same(letters.map((l) => [l.stage, l.controlId]), [['conversion', 'P-2']]);
  t.match(letters[0]!.reason, /store refused/);
  t.equal((await s.source.store.stats()).pending, 0, 'nothing stuck');
});

t.test('when the store cannot commit, the sender gets AE 207 (resend), never AA', async (t) => {
  const broken = await openSource({ store: { kind: 'postgres', connectionString: URL, schema: 'hl7v2_pgbroken' } }, 'hl7-pgb');
  t.teardown(() => broken.close());
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  await admin.query('DROP SCHEMA hl7v2_pgbroken CASCADE'); // the database loses the tables under the running node
  await admin.end();
  const hl7 = client(broken.port);
  t.teardown(() => hl7.close());
  const ack = await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'LOST-1' }), pid('1')]));
  t.equal(ack.code, 'AE');
  t.match(ack.err, /\|207\^message could not be stored, resend it\^HL70357\|/);
  t.equal((await broken.source.health(new AbortController().signal)).status, 'down');
});

t.test('PostgreSQL dropping idle connections (a restart, a failover) costs nothing: the next message gets AA', async (t) => {
  const s = await openSource({ store: { kind: 'postgres', connectionString: URL, schema: 'hl7v2_pgdrop' } }, 'hl7-pgd');
  t.teardown(() => s.close());
  const hl7 = client(s.port);
  t.teardown(() => hl7.close());
  t.equal((await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'DROP-1' }), pid('1')]))).code, 'AA');
  await s.source.drain();
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database.name]);
  await admin.end();
  t.ok((rowCount ?? 0) > 0, 'the idle connections were cut');
  t.equal((await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'DROP-2' }), pid('2')]))).code, 'AA');
  t.equal((await s.source.health(new AbortController().signal)).status, 'up');
});
