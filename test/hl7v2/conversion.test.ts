/**
 * v2 messages of every supported type, accepted into a real SQLite store and converted by the
 * worker, read back as FHIR: the mapping as a specification.
 */
import t from 'tap';
import type {
  AllergyIntolerance, DiagnosticReport, Encounter, Medication, MedicationRequest, Observation, Patient,
} from '@medplum/fhirtypes';
import { humanName } from '../../adapters/hl7v2/conversion/v2-datatypes.ts';
import { parseEr7 } from '../../adapters/hl7v2/er7.ts';
import { localId, message, msh, openSource, pid, seg, type SourceUnderTest } from './support/hl7v2-harness.ts';

const signal = new AbortController().signal;

async function feed(s: SourceUnderTest, ...messages: string[]): Promise<void> {
  for (const m of messages) {
    const [outcome] = await s.source.acceptText(m);
    if (outcome?.kind !== 'accepted' && outcome?.kind !== 'duplicate') throw new Error(`not accepted: ${JSON.stringify(outcome && 'refusal' in outcome ? outcome.refusal : outcome?.kind)}`);
  }
  await s.source.drain();
}

async function one<T>(s: SourceUnderTest, type: string, id?: string): Promise<T> {
  const all = await s.all(type);
  const found = id ? all.find((r) => r.id === id) : all[0];
  if (!found) throw new Error(`no ${type}`);
  return found as T;
}

t.test('ADT', async (t) => {
  const s = await openSource({ mllp: false, timezone: 'America/New_York' });
  t.teardown(() => s.close());

  t.test('A01 admits: Patient with decoded escapes, repetitions and a date-only birth date; Encounter in progress', async (t) => {
    await feed(s, message([
      msh({ type: 'ADT^A01^ADT_A01', control: 'A01-1' }),
      'EVN|A01|20250301101500',
      pid('1001', {
        3: '1001^^^TESTHOSP^MR~555-12-3456^^^SSA^SS',
        5: 'O\\S\\Brien^Mary^Ann^Jr^Ms^^L~Smith^Mary^^^^^M',
        7: '19800302',
        11: '1 Main St\\F\\Unit 2^^Springfield^IL^62701^USA^H',
        13: '^PRN^PH^^1^217^5550100~^NET^Internet^mary@example.org',
        14: '^WPN^PH^^^217^5550199',
        29: '',
      }),
      seg('PV1', { 1: '1', 2: 'I', 3: 'ICU^12^A^TESTHOSP', 7: '77^Welby^Marcus^^^Dr', 19: 'V100', 44: '20250301101000' }),
      'ZPI|custom|segment|ignored',
    ]));
    const patient = await one<Patient>(s, 'Patient', localId('1001'));
    t.equal(patient.birthDate, '1980-03-02', 'birth date stays a date, never shifted through UTC');
    t.same(patient.name?.[0], { family: 'O^Brien', given: ['Mary', 'Ann'], suffix: ['Jr'], prefix: ['Ms'], use: 'official' });
    t.equal(patient.name?.[1]?.use, 'maiden', 'second XPN repetition kept with its type');
    t.equal(patient.address?.[0]?.line?.[0], '1 Main St|Unit 2', '\\F\\ decodes to the field separator inside a value');
    t.same(patient.telecom, [
      { system: 'phone', value: '+1 (217) 5550100', use: 'home' },
      { system: 'email', value: 'mary@example.org', use: 'home' },
      { system: 'phone', value: '(217) 5550199', use: 'work' },
    ]);
    t.ok(patient.identifier?.some((i) => i.system === 'http://hl7.org/fhir/sid/us-ssn' || i.value === '555-12-3456'), 'SSN repetition kept');
    const encounter = await one<Encounter>(s, 'Encounter');
    t.equal(encounter.status, 'in-progress');
    t.equal(encounter.class.code, 'IMP');
    t.equal(encounter.subject?.reference, `Patient/${localId('1001')}`);
    t.equal(encounter.period?.start, '2025-03-01T10:10:00-05:00', 'local time without offset gets the source zone (EST)');
    t.equal(encounter.participant?.[0]?.individual?.display, 'Dr Marcus Welby');
  });

  t.test('A08 after A01 updates the same Patient and Encounter; empty fields keep, "" deletes', async (t) => {
    await feed(s, message([
      msh({ type: 'ADT^A08^ADT_A01', control: 'A08-1' }),
      pid('1001', { 5: 'O\\S\\Brien^Mary^Ann^Jr^Ms^^L', 13: '""', 16: 'M' }),
      seg('PV1', { 1: '1', 2: 'I', 3: 'ICU^14^B^TESTHOSP', 19: 'V100' }),
    ]));
    const patients = (await s.all('Patient')) as Patient[];
    t.equal(patients.length, 1, 'no duplicate Patient');
    const patient = patients[0]!;
    t.equal(patient.telecom, undefined, 'PID-13 "" removed the phone numbers');
    t.equal(patient.birthDate, '1980-03-02', 'birth date kept although PID-7 was sent again');
    t.equal(patient.address?.[0]?.city, 'Springfield', 'address kept: PID-11 was empty');
    t.equal(patient.maritalStatus?.coding?.[0]?.code, 'M');
    t.equal(patient.meta?.versionId, '2');
    const encounters = (await s.all('Encounter')) as Encounter[];
    t.equal(encounters.length, 1, 'no duplicate Encounter');
    t.equal(encounters[0]!.status, 'in-progress', 'A08 does not change the status');
    t.match(encounters[0]!.location?.[0]?.location.display, /14/);
  });

  t.test('A02 transfers, A03 discharges, A13 cancels the discharge, A11 cancels an admission', async (t) => {
    await feed(s, message([
      msh({ type: 'ADT^A02^ADT_A02', control: 'A02-1' }),
      pid('1001'),
      seg('PV1', { 1: '1', 2: 'I', 3: 'WARD^3^1^TESTHOSP', 6: 'ICU^14^B^TESTHOSP', 19: 'V100' }),
    ]));
    let encounter = await one<Encounter>(s, 'Encounter');
    t.same(encounter.location?.map((l) => l.status), ['active', 'completed']);
    await feed(s, message([
      msh({ type: 'ADT^A03^ADT_A03', control: 'A03-1' }),
      'EVN|A03|20250305120000',
      pid('1001'),
      seg('PV1', { 1: '1', 2: 'I', 3: 'WARD^3^1^TESTHOSP', 19: 'V100', 36: '01^Home^HL70112', 44: '20250301101000', 45: '20250305113000' }),
    ]));
    encounter = await one<Encounter>(s, 'Encounter');
    t.equal(encounter.status, 'finished');
    t.equal(encounter.period?.end, '2025-03-05T11:30:00-05:00');
    t.equal(encounter.hospitalization?.dischargeDisposition?.coding?.[0]?.code, '01');
    await feed(s, message([
      msh({ type: 'ADT^A13^ADT_A01', control: 'A13-1' }),
      pid('1001'),
      seg('PV1', { 1: '1', 2: 'I', 3: 'WARD^3^1^TESTHOSP', 19: 'V100' }),
    ]));
    encounter = await one<Encounter>(s, 'Encounter');
    t.equal(encounter.status, 'in-progress');
    t.same(encounter.period, { start: '2025-03-01T10:10:00-05:00' }, 'cancelled discharge reopens the period; the admit time stays although PV1-44 was empty');

    await feed(s, message([msh({ type: 'ADT^A01^ADT_A01', control: 'A01-2' }), pid('1001'), seg('PV1', { 1: '1', 2: 'E', 19: 'V200' })]));
    await feed(s, message([msh({ type: 'ADT^A11^ADT_A09', control: 'A11-1' }), pid('1001'), seg('PV1', { 1: '1', 2: 'E', 19: 'V200' })]));
    const cancelled = ((await s.all('Encounter')) as Encounter[]).find((e) => e.identifier?.[0]?.value === 'V200');
    t.equal(cancelled?.status, 'cancelled');
  });

  t.test('A04 registers an outpatient; A28/A31 maintain person data without an encounter', async (t) => {
    const before = (await s.all('Encounter')).length;
    await feed(s,
      message([msh({ type: 'ADT^A28^ADT_A05', control: 'A28-1' }), pid('2002', { 5: 'Roe^Rick', 7: '1975', 8: 'M' }), 'PV1|1|N']),
      message([msh({ type: 'ADT^A31^ADT_A05', control: 'A31-1' }), pid('2002', { 5: 'Roe^Richard', 7: '1975', 8: 'M', 30: 'N' }), 'PV1|1|N']),
    );
    const rick = await one<Patient>(s, 'Patient', localId('2002'));
    t.equal(rick.birthDate, '1975', 'year-only birth date keeps its precision');
    t.equal(rick.name?.[0]?.given?.[0], 'Richard', 'A31 updated the name');
    t.equal(rick.deceasedBoolean, false);
    t.equal((await s.all('Encounter')).length, before, 'PV1-2 N (not applicable) makes no encounter');
    await feed(s, message([msh({ type: 'ADT^A04^ADT_A01', control: 'A04-1' }), pid('2002', { 5: 'Roe^Richard', 8: 'M' }), seg('PV1', { 1: '1', 2: 'O', 19: 'V300' })]));
    const registered = ((await s.all('Encounter')) as Encounter[]).find((e) => e.identifier?.[0]?.value === 'V300');
    t.equal(registered?.status, 'arrived');
    t.equal(registered?.class.code, 'AMB');
  });

  t.test('AL1 → AllergyIntolerance, repeated in later messages without duplicates', async (t) => {
    const al1 = 'AL1|1|DA|7980^Penicillin G^RXNORM|SV|Hives~Wheezing|20160512';
    await feed(s,
      message([msh({ type: 'ADT^A08^ADT_A01', control: 'AL1-1' }), pid('2002'), al1, 'AL1|2|FA|^Peanuts|MI|Itching']),
      message([msh({ type: 'ADT^A08^ADT_A01', control: 'AL1-2' }), pid('2002'), al1]),
    );
    const allergies = ((await s.all('AllergyIntolerance')) as AllergyIntolerance[]).filter((a) => a.patient.reference === `Patient/${localId('2002')}`);
    t.equal(allergies.length, 2);
    const penicillin = allergies.find((a) => a.code?.coding?.[0]?.code === '7980')!;
    t.equal(penicillin.code?.coding?.[0]?.system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
    t.same(penicillin.category, ['medication']);
    t.equal(penicillin.criticality, 'high');
    t.same(penicillin.reaction?.[0]?.manifestation.map((m) => m.text), ['Hives', 'Wheezing']);
    t.equal(penicillin.reaction?.[0]?.severity, 'severe');
    t.equal(penicillin.onsetDateTime, '2016-05-12');
    const peanut = allergies.find((a) => a.code?.text === 'Peanuts')!;
    t.same(peanut.category, ['food'], 'uncoded allergen kept as text');
  });

  t.test('A40 merges the prior patient into the survivor', async (t) => {
    await feed(s,
      message([msh({ type: 'ADT^A04^ADT_A01', control: 'M-1' }), pid('3003'), seg('PV1', { 1: '1', 2: 'O', 19: 'V400' }), 'AL1|1|DA|2670^Codeine^RXNORM']),
      message([msh({ type: 'ADT^A28^ADT_A05', control: 'M-2' }), pid('3004'), 'PV1|1|N']),
      message([msh({ type: 'ADT^A40^ADT_A39', control: 'M-3' }), pid('3004'), seg('MRG', { 1: '3003^^^TESTHOSP^MR' })]),
    );
    const encounter = ((await s.all('Encounter')) as Encounter[]).find((e) => e.identifier?.[0]?.value === 'V400');
    t.equal(encounter?.subject?.reference, `Patient/${localId('3004')}`, 'records moved to the survivor');
    const survivorAllergies = await s.source.search(
      { resourceType: 'AllergyIntolerance', filters: [], count: 10, patients: [localId('3004')] }, signal);
    t.equal(survivorAllergies.resources.length, 1, 'found in the survivor compartment');
    const old = await one<Patient>(s, 'Patient', localId('3003'));
    t.equal(old.active, false);
    t.same(old.link, [{ other: { reference: `Patient/${localId('3004')}` }, type: 'replaced-by' }]);
    const survivor = await one<Patient>(s, 'Patient', localId('3004'));
    t.same(survivor.link, [{ other: { reference: `Patient/${localId('3003')}` }, type: 'replaces' }]);
    // The survivor's own feed later repeats the allergy: still one record, under the survivor.
    await feed(s, message([msh({ type: 'ADT^A08^ADT_A01', control: 'M-4' }), pid('3004'), 'AL1|1|DA|2670^Codeine^RXNORM']));
    const codeine = ((await s.all('AllergyIntolerance')) as AllergyIntolerance[]).filter((a) => a.code?.coding?.[0]?.code === '2670');
    t.same(codeine.map((a) => a.patient.reference), [`Patient/${localId('3004')}`], 'one codeine allergy after merge and update');
    const notified = s.changes.flat();
    t.ok(notified.includes(localId('3003')) && notified.includes(localId('3004')), 'both patients get a record-change notification');
  });
});

t.test('pharmacy orders', async (t) => {
  const s = await openSource({ mllp: false, timezone: '+01:00' });
  t.teardown(() => s.close());

  t.test('RDE^O11 → MedicationRequest from RXE with a coded Medication, dosage, route and dispense', async (t) => {
    await feed(s, message([
      msh({ type: 'RDE^O11^RDE_O11', control: 'RDE-1' }),
      pid('4001'),
      seg('ORC', { 1: 'NW', 2: 'P100^CPOE', 3: 'F100^PHARM', 9: '20250301083000', 12: '55^House^Greg^^^Dr' }),
      seg('RXE', { 1: '^BID', 2: '308182^Amoxicillin 250 MG Oral Capsule^RXNORM', 3: '250', 5: 'mg^milligram^UCUM', 6: 'CAP^Capsule^HL70292',
        7: '^Take one capsule twice daily', 10: '20', 11: 'CAP^capsule', 12: '2', 15: 'RX1' }),
      'RXR|PO^Oral^HL70162',
      'NTE|1||Finish the course',
    ]));
    const request = await one<MedicationRequest>(s, 'MedicationRequest');
    t.equal(request.status, 'active');
    t.equal(request.intent, 'order');
    t.equal(request.subject.reference, `Patient/${localId('4001')}`);
    t.equal(request.authoredOn, '2025-03-01T08:30:00+01:00', 'zone from configuration for a local time');
    t.equal(request.requester?.display, 'Dr Greg House');
    t.same(request.dosageInstruction?.[0]?.doseAndRate?.[0]?.doseQuantity, { value: 250, unit: 'milligram', code: 'mg', system: 'http://unitsofmeasure.org' });
    t.equal(request.dosageInstruction?.[0]?.text, 'Take one capsule twice daily');
    t.equal(request.dosageInstruction?.[0]?.route?.coding?.[0]?.code, 'PO');
    t.equal(request.dosageInstruction?.[0]?.timing?.code?.text, 'BID');
    t.same(request.dispenseRequest, { quantity: { value: 20, unit: 'capsule' }, numberOfRepeatsAllowed: 2 }, 'a unit without a coding system is text only (qty-3)');
    t.equal(request.note?.[0]?.text, 'Finish the course');
    const medication = await one<Medication>(s, 'Medication', request.medicationReference?.reference?.split('/')[1]);
    t.same(medication.code?.coding?.[0], { code: '308182', system: 'http://www.nlm.nih.gov/research/umls/rxnorm', display: 'Amoxicillin 250 MG Oral Capsule' });
    t.equal(medication.form?.coding?.[0]?.code, 'CAP');
  });

  t.test('a later discontinue (ORC-1 DC) for the same placer order replaces it with what it restates', async (t) => {
    await feed(s, message([
      msh({ type: 'RDE^O25^RDE_O25', control: 'RDE-2' }),
      pid('4001'),
      seg('ORC', { 1: 'DC', 2: 'P100^CPOE' }),
      seg('RXE', { 2: '308182^Amoxicillin 250 MG Oral Capsule^RXNORM', 7: '^Take one capsule twice daily' }),
    ]));
    const requests = (await s.all('MedicationRequest')) as MedicationRequest[];
    t.equal(requests.length, 1);
    t.equal(requests[0]!.status, 'stopped');
    t.equal(requests[0]!.dosageInstruction?.[0]?.text, 'Take one capsule twice daily');
    t.equal(requests[0]!.note, undefined, 'the note the order no longer carries is gone, not kept stale');
    t.equal(requests[0]!.meta?.versionId, '2', 'same resource, next version');
  });

  t.test('OMP^O09 and ORM^O01 → MedicationRequest from RXO; an uncoded drug stays a CodeableConcept', async (t) => {
    await feed(s,
      message([msh({ type: 'OMP^O09^OMP_O09', control: 'OMP-1' }), pid('4002'), seg('ORC', { 1: 'NW', 2: 'P200' }), seg('TQ1', { 1: '1', 3: 'Q6H PRN', 9: 'S' }),
        seg('RXO', { 1: '1049630^Diphenhydramine 25 MG Oral Tablet^RXNORM', 2: '25', 4: 'mg', 11: '10', 12: 'TAB', 13: '1' })]),
      message([msh({ type: 'ORM^O01^ORM_O01', control: 'ORM-1' }), pid('4002'), seg('ORC', { 1: 'NW', 2: 'P201', 5: 'HD' }), seg('RXO', { 1: '^Compounded cream' })]),
    );
    const requests = ((await s.all('MedicationRequest')) as MedicationRequest[]).filter((r) => r.subject.reference === `Patient/${localId('4002')}`);
    t.equal(requests.length, 2);
    const omp = requests.find((r) => r.identifier?.[0]?.value === 'P200')!;
    t.equal(omp.priority, 'stat');
    t.equal(omp.dispenseRequest?.numberOfRepeatsAllowed, 1);
    t.match(omp.medicationReference?.reference, /^Medication\/med-/);
    const orm = requests.find((r) => r.identifier?.[0]?.value === 'P201')!;
    t.equal(orm.status, 'on-hold', 'ORC-5 order status wins');
    t.same(orm.medicationCodeableConcept, { text: 'Compounded cream' });
  });
});

t.test('ORU^R01 results', async (t) => {
  const s = await openSource({ mllp: false });
  t.teardown(() => s.close());
  const obr = seg('OBR', { 1: '1', 2: 'P9^CPOE', 3: 'F9^LAB', 4: '24323-8^Metabolic panel^LN', 7: '20250302070000+0000', 22: '20250302093000+0000', 25: 'P' });
  const obx = (n: number, type: string, code: string, value: string, extra: Record<number, string> = {}): string =>
    seg('OBX', { 1: String(n), 2: type, 3: code, 5: value, 11: 'P', ...extra });

  t.test('values by OBX-2, units, ranges, interpretation, status; DiagnosticReport lists them', async (t) => {
    await feed(s, message([
      msh({ type: 'ORU^R01^ORU_R01', control: 'ORU-1' }),
      pid('5001'),
      obr,
      obx(1, 'NM', '2345-7^Glucose^LN', '142', { 6: 'mg/dL^^UCUM', 7: '70-99', 8: 'H', 14: '20250302065500+0000' }),
      obx(2, 'SN', '33914-3^eGFR^LN', '>^60', { 6: 'mL/min' }),
      obx(3, 'SN', '5902-2^PT ratio^LN', '^1^:^2'),
      obx(4, 'CWE', '882-1^ABO+Rh group^LN', '278149003^Blood group A Rh(D) positive^SCT'),
      obx(5, 'TX', '11526-1^Pathology study^LN', 'Line one~Line two'),
      obx(6, 'DTM', '8665-2^Last menstrual period^LN', '20250214'),
      obx(7, 'ST', '5778-6^Color^LN', 'Yellow\\T\\amber'),
      obx(8, 'NM', '2823-3^Potassium^LN', '', { 8: 'N' }),
      'NTE|1||Hemolysed\\.br\\sample',
      'ZLB|site-specific',
    ]));
    const observations = (await s.all('Observation')) as Observation[];
    const byCode = (code: string): Observation => observations.find((o) => o.code.coding?.[0]?.code === code)!;
    t.equal(observations.length, 8);
    const glucose = byCode('2345-7');
    t.same(glucose.valueQuantity, { value: 142, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    t.same(glucose.referenceRange?.[0]?.low?.value, 70);
    t.same(glucose.referenceRange?.[0]?.high?.value, 99);
    t.equal(glucose.interpretation?.[0]?.coding?.[0]?.code, 'H');
    t.equal(glucose.status, 'preliminary');
    t.equal(glucose.effectiveDateTime, '2025-03-02T06:55:00+00:00');
    t.equal(byCode('33914-3').valueQuantity?.comparator, '>');
    t.same(byCode('5902-2').valueRatio, { numerator: { value: 1 }, denominator: { value: 2 } });
    t.equal(byCode('882-1').valueCodeableConcept?.coding?.[0]?.system, 'http://snomed.info/sct');
    t.equal(byCode('11526-1').valueString, 'Line one\nLine two', 'TX repetitions are lines');
    t.equal(byCode('8665-2').valueDateTime, '2025-02-14');
    t.equal(byCode('5778-6').valueString, 'Yellow&amber');
    t.equal(byCode('2823-3').dataAbsentReason?.coding?.[0]?.code, 'unknown', 'missing value is stated absent');
    t.equal(byCode('2823-3').note?.[0]?.text, 'Hemolysed\nsample', 'NTE after OBX is its note, \\.br\\ a line break');
    const report = await one<DiagnosticReport>(s, 'DiagnosticReport');
    t.equal(report.status, 'preliminary');
    t.equal(report.result?.length, 8);
    t.equal(report.issued, '2025-03-02T09:30:00+00:00');
  });

  t.test('a corrected result replaces the preliminary one instead of duplicating it', async (t) => {
    await feed(s, message([
      msh({ type: 'ORU^R01^ORU_R01', control: 'ORU-2' }),
      pid('5001'),
      seg('OBR', { 1: '1', 2: 'P9^CPOE', 3: 'F9^LAB', 4: '24323-8^Metabolic panel^LN', 25: 'C' }),
      obx(1, 'NM', '2345-7^Glucose^LN', '128', { 6: 'mg/dL^^UCUM', 11: 'C' }),
    ]));
    const glucose = ((await s.all('Observation')) as Observation[]).filter((o) => o.code.coding?.[0]?.code === '2345-7');
    t.equal(glucose.length, 1);
    t.equal(glucose[0]!.status, 'corrected');
    t.equal(glucose[0]!.valueQuantity?.value, 128);
    t.equal(((await s.all('DiagnosticReport')) as DiagnosticReport[])[0]!.status, 'corrected');
  });

  t.test('an ORU with two patients files each result under its own patient', async (t) => {
    await feed(s, message([
      msh({ type: 'ORU^R01^ORU_R01', control: 'ORU-TWO' }),
      pid('5101'),
      seg('OBR', { 1: '1', 4: '718-7^Hemoglobin^LN', 25: 'F' }),
      obx(1, 'NM', '718-7^Hemoglobin^LN', '13.1', { 11: 'F' }),
      pid('5102'),
      seg('PV1', { 1: '1', 2: 'O', 19: 'V5102' }),
      seg('OBR', { 1: '1', 4: '718-7^Hemoglobin^LN', 25: 'F' }),
      obx(1, 'NM', '718-7^Hemoglobin^LN', '9.8', { 11: 'F' }),
    ]));
    const of = async (mrn: string): Promise<Observation[]> =>
      (await s.source.search({ resourceType: 'Observation', filters: [], patients: [localId(mrn)], count: 10 }, signal)).resources as Observation[];
    t.same((await of('5101')).map((o) => o.valueQuantity?.value), [13.1]);
    t.same((await of('5102')).map((o) => o.valueQuantity?.value), [9.8]);
    const reports = ((await s.all('DiagnosticReport')) as DiagnosticReport[]).filter((r) => r.code.coding?.[0]?.code === '718-7');
    t.equal(new Set(reports.map((r) => r.id)).size, 2, 'two reports, not one shared');
  });

  t.test('search semantics: filters, compartment and paging like every other source', async (t) => {
    const page1 = await s.source.search({ resourceType: 'Observation', filters: [], patients: [localId('5001')], count: 3, sort: [{ code: 'code' }] }, signal);
    t.equal(page1.resources.length, 3);
    t.equal(page1.total, 8);
    t.ok(page1.next);
    const page2 = await s.source.search({ resourceType: 'Observation', filters: [], patients: [localId('5001')], count: 10, page: page1.next! }, signal);
    t.equal(page2.resources.length, 5);
    const { parseSearchRequest } = await import('@medplum/core');
    const { loadFhirDefinitions } = await import('../../adapters/fhir-definitions.ts');
    loadFhirDefinitions();
    const filters = parseSearchRequest('Observation', { code: 'http://loinc.org|2345-7' }).filters ?? [];
    const hit = await s.source.search({ resourceType: 'Observation', filters, patients: [localId('5001')], count: 10 }, signal);
    t.equal(hit.resources.length, 1);
    const other = await s.source.search({ resourceType: 'Observation', filters: [], patients: ['nobody'], count: 10 }, signal);
    t.equal(other.resources.length, 0, 'another patient sees nothing');
  });
});

t.test('XPN-7 name types map to HumanName.use as the v2-to-FHIR ConceptMap does; unmapped types get no use', async (t) => {
  const useOf = (type: string): string | undefined => humanName(parseEr7(`MSH|^~\\&|A\rPID|1||1||Doe^Jo^^^^^${type}`).segment('PID')!.field(5))?.use;
  const expected: Record<string, string | undefined> = {
    L: 'official', R: 'official', D: 'usual', M: 'maiden', N: 'nickname', MSK: 'anonymous', TEMP: 'temp', NAV: 'temp', BAD: 'old',
    A: undefined, B: undefined, C: undefined, S: undefined, T: undefined, U: undefined, '': undefined,
  };
  for (const [type, use] of Object.entries(expected)) t.equal(useOf(type), use, `${type || '(empty)'} → ${use ?? 'no use'}`);
});
