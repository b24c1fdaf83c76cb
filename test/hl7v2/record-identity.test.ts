/**
 * Which stored record a message updates. Local patient ids encode PID-3 without collisions.
 * Numbers a sender assigns (order, accession, visit and prescription numbers) identify a record
 * only within their namespace, else their sender; a key that already names another patient's
 * record is refused (AE 205, dead letter), never merged. A restated result, order or allergy
 * replaces the stored one whole, and every stored resource stays valid FHIR R4.
 */
import t from 'tap';
import { validateResource } from '@medplum/core';
import type { DiagnosticReport, Encounter, MedicationRequest, Observation, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';
import { localPatientIdFromCx } from '../../adapters/hl7v2/conversion/patient-mapping.ts';
import { parseEr7 } from '../../adapters/hl7v2/er7.ts';
import { HL7V2_RESOURCE_TYPES } from '../../adapters/hl7v2/hl7v2-adapter.ts';
import { localId, message, msh, openSource, pid, ramTmpdir, seg, type SourceUnderTest } from './support/hl7v2-harness.ts';

const signal = new AbortController().signal;

async function feed(s: SourceUnderTest, ...messages: string[]): Promise<void> {
  for (const m of messages) {
    const [outcome] = await s.source.acceptText(m);
    if (outcome?.kind !== 'accepted') throw new Error(`not accepted: ${outcome?.kind}`);
  }
  await s.source.drain();
}

async function ofPatient<T extends Resource>(s: SourceUnderTest, resourceType: string, mrn: string): Promise<T[]> {
  await s.source.drain();
  return (await s.source.search({ resourceType, filters: [], patients: [localId(mrn)], count: 100 }, signal)).resources as T[];
}

const oru = (app: string, control: string, mrn: string, obr: Record<number, string>, ...rest: string[]): string =>
  message([msh({ type: 'ORU^R01^ORU_R01', control, app }), pid(mrn), seg('OBR', { 1: '1', 4: '2345-7^Glucose^LN', 7: '20250115', ...obr }), ...rest]);

t.test('local patient ids: the common case reads plainly, and no two identifiers share one', async (t) => {
  const idOf = (cx: string): string | undefined => localPatientIdFromCx(parseEr7(`MSH|^~\\&|A\rPID|1||${cx}`).segment('PID')!.repetitions(3));
  t.equal(idOf('100201^^^SLMC^MR'), 'SLMC-100201');
  t.equal(idOf('100201'), '100201', 'no assigning authority: the id alone');
  t.equal(idOf('9^^^^PI~100201^^^SLMC^MR'), 'SLMC-100201', 'the MR repetition wins');
  t.equal(idOf('^^^&1.2.840.1&ISO^MR'), undefined, 'no id value, no local id');
  const identifiers = [
    '201^^^SLMC-100^MR', '100-201^^^SLMC^MR', '100/201^^^SLMC^MR', '100 201^^^SLMC^MR', '100_201^^^SLMC^MR', '100.201^^^SLMC^MR',
    'SLMC-100-201', 'SLMC.2D100-201', '100.2D201^^^SLMC^MR', '201^^^&1.2.840.113619&ISO^MR', 'Müller^^^SLMC^MR', 'M.C3.BCller^^^SLMC^MR',
    `${'9'.repeat(70)}^^^SLMC^MR`, `${'9'.repeat(69)}^^^SLMC^MR`, 'p..0^^^SLMC^MR',
  ];
  const ids = identifiers.map(idOf);
  t.equal(new Set(ids).size, identifiers.length, `all distinct: ${ids.join(' ')}`);
  t.ok(ids.every((id) => id !== undefined && /^[A-Za-z0-9\-.]{1,64}$/.test(id)), 'every one a valid FHIR id');
  t.equal(idOf('100-201^^^SLMC^MR'), 'SLMC-100.2D201', 'other characters are `.` + UTF-8 hex, as the README documents');
  t.match(idOf(`${'9'.repeat(70)}^^^SLMC^MR`), /^p\.\.[0-9a-f]{40}$/, 'too long for a FHIR id: a hash form no encoded id can take');
});

t.test('numbers are scoped by their namespace, else by their sender', async (t) => {
  const s = await openSource({ mllp: false }, 'hl7-identity', ramTmpdir());
  t.teardown(() => s.close());

  t.test("a second lab's accession ACC1 for another patient is another result, not an overwrite", async (t) => {
    await feed(s,
      oru('LAB-A', 'a1', 'ALICE', { 3: 'ACC1' }, 'OBX|1|NM|2345-7^Glucose^LN||250|mg/dL|70-99|HH|||F', 'NTE|1||Critical value phoned'),
      oru('LAB-B', 'b1', 'BOB', { 3: 'ACC1' }, 'OBX|1|NM|2345-7^Glucose^LN||90|mg/dL|||||F'),
    );
    const alice = await ofPatient<Observation>(s, 'Observation', 'ALICE');
    const bob = await ofPatient<Observation>(s, 'Observation', 'BOB');
    t.same(alice.map((o) => [o.valueQuantity?.value, o.interpretation?.[0]?.coding?.[0]?.code, o.note?.[0]?.text]), [[250, 'HH', 'Critical value phoned']]);
    t.same(bob.map((o) => [o.valueQuantity?.value, o.interpretation, o.note]), [[90, undefined, undefined]]);
    t.not(alice[0]!.id, bob[0]!.id);
    t.equal((await ofPatient<DiagnosticReport>(s, 'DiagnosticReport', 'ALICE')).length, 1, "Alice's report is still hers");
  });

  t.test('placer numbers, prescription numbers and visit numbers without a namespace are per sender too', async (t) => {
    const rde = (app: string, control: string, mrn: string): string => message([
      msh({ type: 'RDE^O11^RDE_O11', control, app }), pid(mrn), seg('PV1', { 1: '1', 2: 'I', 19: 'V1' }),
      seg('ORC', { 1: 'NW', 2: 'ORD1' }), seg('RXE', { 2: '308182^Amoxicillin^RXNORM', 15: 'RX1' }),
    ]);
    await feed(s, rde('CPOE-A', 'r1', 'CAROL'), rde('CPOE-B', 'r2', 'DAVE'));
    const carol = await ofPatient<MedicationRequest>(s, 'MedicationRequest', 'CAROL');
    const dave = await ofPatient<MedicationRequest>(s, 'MedicationRequest', 'DAVE');
    t.equal(carol.length, 1);
    t.equal(dave.length, 1);
    t.not(carol[0]!.encounter?.reference, dave[0]!.encounter?.reference, 'visit V1 of two senders is two encounters');
  });

  t.test('a namespaced number is the same order whichever system sends it', async (t) => {
    await feed(s,
      oru('LAB-A', 'n1', 'ERIN', { 2: 'P5^CPOE', 25: 'P' }, 'OBX|1|NM|2345-7^Glucose^LN||101|mg/dL|||||P'),
      oru('LAB-C', 'n2', 'ERIN', { 2: 'P5^CPOE', 25: 'F' }, 'OBX|1|NM|2345-7^Glucose^LN||102|mg/dL|||||F'),
    );
    const results = await ofPatient<Observation>(s, 'Observation', 'ERIN');
    t.same(results.map((o) => [o.valueQuantity?.value, o.status]), [[102, 'final']]);
  });

  t.test('a key that names another patient\'s record is refused with 205 and dead-lettered; that record is untouched', async (t) => {
    await feed(s, oru('LAB-A', 'x1', 'FRANK', { 3: 'ACC9^LAB' }, 'OBX|1|NM|2345-7^Glucose^LN||77|mg/dL|||||F'));
    const [outcome] = await s.source.acceptText(oru('LAB-A', 'x2', 'GRACE', { 3: 'ACC9^LAB' }, 'OBX|1|NM|2345-7^Glucose^LN||300|mg/dL|||||F'));
    t.equal(outcome?.kind, 'accepted');
    await s.source.drain();
    t.same((await ofPatient<Observation>(s, 'Observation', 'FRANK')).map((o) => [o.valueQuantity?.value, o.subject?.reference]), [[77, `Patient/${localId('FRANK')}`]]);
    t.same(await ofPatient<Observation>(s, 'Observation', 'GRACE'), [], 'nothing filed for the second patient');
    const letters = (await s.source.store.deadLetters({ limit: 100 })).filter((l) => l.controlId === 'x2');
    t.equal(letters.length, 1);
    t.match(letters[0]!.reason, /^AE 205 .*already filed under another patient/);
    t.notMatch(letters[0]!.reason, /FRANK|GRACE/, 'the reason names no patient');
  });

  t.test('an A40 merge still moves the records of the merged patient', async (t) => {
    await feed(s, message([msh({ type: 'ADT^A40^ADT_A39', control: 'm1' }), pid('GRACE'), seg('MRG', { 1: 'FRANK^^^TESTHOSP^MR' })]));
    t.same((await ofPatient<Observation>(s, 'Observation', 'GRACE')).map((o) => o.valueQuantity?.value), [77]);
    t.same(await ofPatient<Observation>(s, 'Observation', 'FRANK'), []);
  });
});

t.test('restatements replace results, orders and allergies whole; every stored resource is valid FHIR', async (t) => {
  loadFhirDefinitions();
  const s = await openSource({ mllp: false, timezone: 'America/New_York' }, 'hl7-restate', ramTmpdir());
  t.teardown(() => s.close());
  const glucose = (control: string, obx: string, ...after: string[]): string =>
    oru('LAB', control, '7001', { 3: 'ACC7^LAB', 25: 'P' }, obx, ...after);
  const omp = (control: string, rxo: string, ...after: string[]): string =>
    message([msh({ type: 'OMP^O09^OMP_O09', control, app: 'CPOE' }), pid('7001'), 'ORC|NW|P77^CPOE', rxo, ...after]);
  const adt = (type: string, control: string, pv1: Record<number, string>, ...after: string[]): string =>
    message([msh({ type, control }), 'EVN||20250115120000', pid('7001'), seg('PV1', { 1: '1', ...pv1 }), ...after]);

  await feed(s,
    adt('ADT^A01^ADT_A01', 'adt1', { 2: 'I', 3: 'ICU^1^A', 19: 'V7^^^TESTHOSP', 44: '20250115110000' }, 'AL1|1|DA|7980^Penicillin^RXNORM|SV|Hives~Rash|20100101'),
    adt('ADT^A02^ADT_A02', 'adt2', { 2: 'I', 3: 'WARD^2^B', 6: 'ICU^1^A', 19: 'V7^^^TESTHOSP' }),
    adt('ADT^A08^ADT_A01', 'adt3', { 2: 'I', 19: 'V7^^^TESTHOSP' }, 'AL1|1|DA|7980^Penicillin^RXNORM|MI'),
    glucose('g1', 'OBX|1|NM|2345-7^Glucose^LN||||||||I'),
    glucose('g2', 'OBX|1|ST|2345-7^Glucose^LN||pending||||||P'),
    glucose('g3', 'OBX|1|NM|2345-7^Glucose^LN||250|mg/dL^^UCUM|70-99|HH|||P', 'NTE|1||hemolysed'),
    glucose('g4', 'OBX|1|NM|2345-7^Glucose^LN||90|mg/dL^^UCUM|||||C'),
    oru('LAB', 'sn1', '7001', { 3: 'ACC8^LAB', 4: '5794-3^Urine protein^LN' }, 'OBX|1|SN|5794-3^Protein^LN||^1^+||||||F', 'OBX|2|NM|5811-5^Specific gravity^LN||1.015|{ratio}^^99LOCAL|||||F'),
    omp('m1', 'RXO|^Amoxicillin 250mg caps|250||mg|||||||20|CAP^capsule|1', 'NTE|1||with food'),
    omp('m2', 'RXO|308182^Amoxicillin 250 MG Oral Capsule^RXNORM|250||mg^^UCUM'),
    adt('ADT^A03^ADT_A03', 'adt4', { 2: 'I', 19: 'V7^^^TESTHOSP', 36: '01^Home^HL70112' }),
  );
  t.same(await s.source.store.deadLetters({ limit: 10 }), [], 'nothing dead-lettered');

  t.test('a result restated from pending to a value to a correction keeps only the latest statement', async (t) => {
    const [o] = (await ofPatient<Observation>(s, 'Observation', '7001')).filter((r) => r.code.coding?.[0]?.code === '2345-7');
    t.equal(o?.status, 'corrected');
    t.same(o?.valueQuantity, { value: 90, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    for (const stale of ['dataAbsentReason', 'valueString', 'interpretation', 'referenceRange', 'note'] as const) {
      t.equal(o?.[stale], undefined, `no stale ${stale}`);
    }
    t.equal(o?.meta?.versionId, '4', 'one resource, four versions');
  });

  t.test('an order restated with a coded drug has the Medication reference only', async (t) => {
    const [r] = await ofPatient<MedicationRequest>(s, 'MedicationRequest', '7001');
    t.match(r?.medicationReference?.reference, /^Medication\//);
    t.equal(r?.medicationCodeableConcept, undefined);
    t.equal(r?.note, undefined, 'the note of the earlier statement is gone');
    t.equal(r?.dispenseRequest, undefined);
  });

  t.test('a restated allergy takes the new severity and drops the reactions it no longer lists', async (t) => {
    const [a] = await s.all('AllergyIntolerance');
    t.match(a, { criticality: 'low' });
    t.equal((a as { reaction?: unknown }).reaction, undefined);
    t.equal((a as { onsetDateTime?: string }).onsetDateTime, undefined);
  });

  t.test('Patient and Encounter keep field-merge semantics', async (t) => {
    const [e] = await ofPatient<Encounter>(s, 'Encounter', '7001');
    t.equal(e?.status, 'finished');
    t.equal(e?.period?.start, '2025-01-15T11:00:00-05:00', 'admit time from the A01 kept');
    t.equal(e?.hospitalization?.dischargeDisposition?.coding?.[0]?.code, '01');
  });

  t.test('SN ^1^+ is the text 1+, and a local unit is text without a code', async (t) => {
    const results = await ofPatient<Observation>(s, 'Observation', '7001');
    t.equal(results.find((o) => o.code.coding?.[0]?.code === '5794-3')?.valueString, '1+');
    t.same(results.find((o) => o.code.coding?.[0]?.code === '5811-5')?.valueQuantity, { value: 1.015, unit: '{ratio}' });
  });

  t.test('medplum validates every stored resource', async (t) => {
    let count = 0;
    for (const type of HL7V2_RESOURCE_TYPES) {
      for (const resource of await s.source.store.list(type)) {
        count++;
        t.doesNotThrow(() => validateResource(resource), `${type}/${resource.id} is valid`);
      }
    }
    t.ok(count >= 7, `${count} resources validated`);
  });
});
