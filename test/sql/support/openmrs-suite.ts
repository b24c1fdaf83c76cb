/**
 * The one OpenMRS SQL adapter suite, run unchanged against MariaDB, PostgreSQL and SQLite:
 * every mapped element, every pushed-down parameter against an in-memory evaluation of the same
 * search over the adapter's unfiltered output, paging stability, voided rows, concept mapping,
 * hostile search values and the read-only connection.
 */
import { getStatus, isOperationOutcome, matchesSearchRequest, OperationOutcomeError, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { AllergyIntolerance, Encounter, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { sql } from 'kysely';
import type { Test } from 'tap';
import { loadFhirDefinitions } from '../../../adapters/fhir-definitions.ts';
import { openmrsMapping } from '../../../adapters/sql/openmrs/openmrs-profile.ts';
import { DEMO_ROWS, IDENTIFIER_TYPES, LOCATIONS, OPENMRS_DEMO_PATIENTS, OPENMRS_VOIDED_PATIENT } from '../../../adapters/sql/openmrs/openmrs-seed.ts';
import { SqlAdapter } from '../../../adapters/sql/sql-adapter.ts';
import { openSqlConnection, type SqlConnection, type SqlDialectName } from '../../../adapters/sql/sql-connection.ts';
import { requireServer } from '../../support/database-servers.ts';
import { createTestDatabase, type TestDatabase } from './openmrs-databases.ts';

const ALICE = OPENMRS_DEMO_PATIENTS.alice;
const BOB = OPENMRS_DEMO_PATIENTS.bob;
const CAROL = OPENMRS_DEMO_PATIENTS.carol;
const TYPES = ['Patient', 'Encounter', 'Observation', 'MedicationRequest', 'AllergyIntolerance'] as const;
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
/** A drug order the time-zone test adds, expiring around now. */
const EXPIRING_ORDER = 'a11ce000-0000-4000-8000-000000000d99';
/** Observations the paging test adds while a search is between pages. */
const BEFORE_PAGE_OBS = 'a11ce000-0000-4000-8000-000000000b98';
const AFTER_PAGE_OBS = 'a11ce000-0000-4000-8000-000000000b99';

export async function runOpenmrsSuite(t: Test, dialect: SqlDialectName): Promise<void> {
  if (!(await requireServer(t, dialect))) return;
  loadFhirDefinitions();
  const database: TestDatabase = await createTestDatabase(dialect);
  const connection: SqlConnection = openSqlConnection(database.options);
  const adapter = await SqlAdapter.open({ sourceId: 'openmrs-test', connection, mapping: openmrsMapping({ identifierSystems: { [IDENTIFIER_TYPES.openmrsId]: 'urn:hillside:openmrs-id' } }) });
  t.teardown(async () => {
    await adapter.close();
    await database.drop();
  });

  /** Everything of a type, through the adapter, no filter. */
  const everything = new Map<string, Resource[]>();
  for (const type of TYPES) {
    const page = await adapter.search({ resourceType: type, filters: [], count: 1000 }, signal());
    t.notOk(page.next, `${type}: the whole seed fits one page of 1000`);
    everything.set(type, [...page.resources]);
  }
  const all = <T extends Resource>(type: T['resourceType']): T[] => (everything.get(type) ?? []) as T[];
  const byId = <T extends Resource>(type: T['resourceType'], id: string): T => {
    const found = all<T>(type).find((r) => r.id === id);
    if (!found) throw new Error(`${type}/${id} missing`);
    return found;
  };

  /** All pages of a search with a small page size. */
  async function searchAll(query: string, patients?: readonly string[], count = 4): Promise<Resource[]> {
    const request = parseSearchRequest(query);
    const out: Resource[] = [];
    let page: string | undefined;
    for (let guard = 0; guard < 500; guard++) {
      const result = await adapter.search(
        { resourceType: request.resourceType, filters: request.filters ?? [], sort: request.sortRules, patients, count, page },
        signal(),
      );
      out.push(...result.resources);
      if (!result.next) return out;
      page = result.next;
    }
    throw new Error('paging did not end');
  }

  await t.test('the unfiltered output is complete and leaves voided rows out', async (t) => {
    const patients = all<Patient>('Patient').map((p) => p.id);
    t.ok(patients.includes(ALICE) && patients.includes(BOB) && patients.includes(CAROL), 'demo patients');
    t.notOk(patients.includes(OPENMRS_VOIDED_PATIENT), 'voided person is not a Patient');
    t.equal(patients.length, 3 + 6, 'three demo patients and six generated ones');
    const ids = new Set(TYPES.flatMap((type) => all(type).map((r) => `${type}/${r.id}`)));
    for (const voided of [`Observation/${DEMO_ROWS.aliceVoidedObs}`, `MedicationRequest/${DEMO_ROWS.aliceVoidedOrder}`, `AllergyIntolerance/${DEMO_ROWS.aliceVoidedAllergy}`]) {
      t.notOk(ids.has(voided), `${voided} is voided and absent`);
    }
    t.notOk(ids.has(`MedicationRequest/${DEMO_ROWS.aliceDiscontinue}`), 'DISCONTINUE orders are not MedicationRequests');
    t.equal(await adapter.read('Observation', DEMO_ROWS.aliceVoidedObs, signal()), undefined, 'read of a voided obs: not found');
    t.equal(await adapter.read('Patient', OPENMRS_VOIDED_PATIENT, signal()), undefined, 'read of a voided patient: not found');
    t.equal(await adapter.read('Patient', "x' or '1'='1", signal()), undefined, 'read of a hostile id: not found');
    t.equal(await adapter.read('Patient', 'a\u0000b', signal()), undefined, 'read of an id with NUL: not found');
    for (const type of TYPES) {
      const owned = all(type).filter((r) => JSON.stringify(r).includes(OPENMRS_VOIDED_PATIENT));
      t.same(owned.map((r) => r.id), [], `${type}: nothing of the voided patient (its own rows are not voided)`);
      const page = await adapter.search({ resourceType: type, filters: [], patients: [OPENMRS_VOIDED_PATIENT], count: 10 }, signal());
      t.equal(page.resources.length, 0, `${type}: the voided patient's compartment is empty`);
    }
    const alice = await adapter.read('Patient', ALICE, signal());
    t.same(alice, byId('Patient', ALICE), 'read returns what search returns');
    for (const type of TYPES) {
      for (const r of all(type)) {
        if (!r.meta?.lastUpdated || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(r.meta.lastUpdated)) t.fail(`${type}/${r.id} lacks meta.lastUpdated`);
        if (JSON.stringify(r).includes('null')) t.fail(`${type}/${r.id} carries a null`);
      }
    }
  });

  await t.test('Patient: names, identifiers with types, gender, birthDate, deceased, addresses', async (t) => {
    const alice = byId<Patient>('Patient', ALICE);
    t.equal(alice.meta?.lastUpdated, '2025-02-03T10:15:00Z', 'lastUpdated is date_changed');
    t.equal(alice.active, true);
    t.same(alice.name?.map((n) => [n.use, n.family, n.given, n.prefix]), [
      ['official', 'Demo', ['Alice', 'Marie'], ['Ms.']],
      ['usual', 'Maiden', ['Alice'], undefined],
    ], 'preferred name first; voided name absent');
    t.same(alice.identifier?.map((i) => [i.use, i.system, i.value, i.type?.coding?.[0]?.code, i.type?.text]), [
      ['official', 'urn:hillside:openmrs-id', 'HSC-10001', IDENTIFIER_TYPES.openmrsId, 'OpenMRS ID'],
      ['usual', undefined, 'NID-8840312', IDENTIFIER_TYPES.nationalId, 'National ID'],
    ], 'identifier types, preferred → official, configured systems; voided identifier absent');
    t.equal(alice.identifier?.[0]?.extension?.[0]?.valueReference?.display, 'Hillside Clinic', 'identifier location');
    t.equal(alice.gender, 'female');
    t.equal(alice.birthDate, '1984-03-12');
    t.equal(alice.deceasedBoolean, false);
    t.same(alice.address?.[0], {
      id: alice.address?.[0]?.id, use: 'home', line: ['12 Hill Road', 'Flat 3'], city: 'Hillside', district: 'Hill County', state: 'Central',
      postalCode: '00100', country: 'Kenya', period: { start: '2019-05-01T00:00:00Z' },
    });
    t.same(alice.address?.[1]?.period, { end: '2019-04-30T00:00:00Z' });
    const carol = byId<Patient>('Patient', CAROL);
    t.equal(carol.deceasedDateTime, '2024-09-01T06:30:00Z', 'death_date → deceasedDateTime');
    t.equal(byId<Patient>('Patient', BOB).gender, 'male');
    t.equal(byId<Patient>('Patient', BOB).meta?.lastUpdated, '2020-02-10T11:00:00Z', 'no date_changed: date_created');
  });

  await t.test('Encounter: type, subject, period, participants, location, and its visit', async (t) => {
    const e = byId<Encounter>('Encounter', DEMO_ROWS.aliceEncounter);
    t.equal(e.meta?.lastUpdated, '2025-01-11T08:00:00Z');
    t.equal(e.status, 'unknown');
    t.same(e.type?.[0]?.coding?.[0], { system: 'http://fhir.openmrs.org/code-system/encounter-type', code: 'e22e39fd-7db2-45e7-80f1-60fa0d5a4378', display: 'Adult Visit' });
    t.same(e.subject, { reference: `Patient/${ALICE}` });
    t.same(e.period, { start: '2025-01-10T09:00:00Z', end: '2025-01-10T09:00:00Z' });
    t.same(e.participant, [{ type: [{ text: 'Clinician' }], individual: { display: 'Dr. Hillside Clinician', identifier: { value: 'PRV-001' } } }]);
    t.same(
      byId<Encounter>('Encounter', DEMO_ROWS.bobEncounter).participant?.[0]?.individual,
      { display: 'Dr. Jane Mwangi MD', identifier: { value: 'PRV-003' } },
      'a provider without provider.name: the preferred, non-voided name of its person',
    );
    t.same(e.location, [{ location: { display: 'Hillside Clinic' } }]);
    t.same(e.partOf, { reference: '#visit', display: 'Outpatient' });
    const visit = e.contained?.[0] as Encounter | undefined;
    t.equal(visit?.id, 'visit');
    t.same(visit?.identifier, [{ system: 'urn:openmrs:visit', value: DEMO_ROWS.aliceVisit }]);
    t.same(visit?.period, { start: '2025-01-10T08:30:00Z', end: '2025-01-10T12:00:00Z' });
    t.equal(visit?.status, 'finished');
    t.same(visit?.type, [{ text: 'Outpatient' }], 'visit type');
    t.same(visit?.subject, { reference: `Patient/${ALICE}` });
    t.same(e.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' });
    t.equal(visit?.meta?.tag?.[0]?.code, 'visit');
    const aliceEncounters = all<Encounter>('Encounter').filter((x) => x.subject?.reference === `Patient/${ALICE}`);
    t.equal(aliceEncounters.length, 3, 'the voided encounter is absent');
    t.notOk(aliceEncounters.find((x) => x.period?.start === '2024-11-20T15:45:00Z')?.partOf, 'no visit, no partOf');
  });

  await t.test('Observation: every value type, units and ranges, groups, codes from the reference maps', async (t) => {
    const weight = byId<Observation>('Observation', DEMO_ROWS.aliceWeight);
    t.same(weight.code.coding, [
      { code: '5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', display: 'Weight (kg)' },
      { system: 'https://cielterminology.org', code: '5089' },
      { system: 'http://loinc.org', code: '29463-7', display: 'Body weight' },
      { system: 'http://snomed.info/sct', code: '27113001' },
    ], 'concept uuid first, then CIEL, LOINC, SNOMED CT SAME-AS maps');
    t.equal(weight.code.text, 'Weight (kg)', 'preferred English fully-specified name, not the short or French one');
    t.same(weight.valueQuantity, { value: 68.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' }, 'a UCUM unit: system and code');
    t.same(byId<Observation>('Observation', DEMO_ROWS.aliceSystolic).valueQuantity, { value: 142, unit: 'mmHg' }, 'a unit that is not UCUM: text only');
    t.same(weight.referenceRange, [{ low: { value: 0, unit: 'kg' }, high: { value: 250, unit: 'kg' }, type: { text: 'absolute' } }]);
    t.equal(weight.status, 'final');
    t.same(weight.category?.[0]?.coding?.[0], { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'exam' });
    t.same(weight.subject, { reference: `Patient/${ALICE}` });
    t.same(weight.encounter, { reference: `Encounter/${DEMO_ROWS.aliceEncounter}` });
    t.equal(weight.effectiveDateTime, '2025-01-10T09:05:00Z');
    t.equal(weight.issued, '2025-01-10T09:05:00Z');
    t.equal(weight.meta?.lastUpdated, '2025-01-10T09:05:00Z', 'obs have no date_changed: date_created');

    const glucose = byId<Observation>('Observation', DEMO_ROWS.aliceGlucose);
    t.same(glucose.referenceRange?.map((r) => [r.low?.value, r.high?.value, r.type?.coding?.[0]?.code ?? r.type?.text]), [
      [70, 100, 'normal'],
      [40, 400, 'treatment'],
      [0, 2000, 'absolute'],
    ], 'normal, critical and absolute ranges');
    t.same(glucose.interpretation?.[0]?.coding?.[0]?.code, 'H');
    t.equal(glucose.category?.[0]?.coding?.[0]?.code, 'laboratory');
    const hemoglobin = byId<Observation>('Observation', DEMO_ROWS.aliceHemoglobin);
    t.equal(hemoglobin.status, 'preliminary');
    t.notOk(hemoglobin.code.coding?.some((c) => c.code === '20509-6'), 'NARROWER-THAN maps are not codings');

    const hiv = byId<Observation>('Observation', DEMO_ROWS.aliceHiv);
    t.same(hiv.valueCodeableConcept?.coding?.map((c) => `${c.system ?? ''}|${c.code}`), [
      '|664AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'https://cielterminology.org|664', 'http://snomed.info/sct|260385009',
    ]);
    t.equal(hiv.valueCodeableConcept?.text, 'Negative');
    t.equal(byId<Observation>('Observation', DEMO_ROWS.aliceSmoker).valueBoolean, false, 'Boolean concept answered No → false');
    const bobSmoker = all<Observation>('Observation').find((o) => o.subject?.reference === `Patient/${BOB}` && o.code.text === 'Current smoker');
    t.equal(bobSmoker?.valueBoolean, true, 'Boolean concept answered Yes → true');
    const note = byId<Observation>('Observation', DEMO_ROWS.aliceNote);
    t.equal(note.valueString, 'Feels well; review glucose in 3 months.');
    t.same(note.note, [{ text: 'entered by nurse' }]);
    t.equal(byId<Observation>('Observation', DEMO_ROWS.aliceReturn).valueDateTime, '2025-04-10T09:00:00Z');

    const group = byId<Observation>('Observation', DEMO_ROWS.aliceBpGroup);
    t.same(group.hasMember, [{ reference: `Observation/${DEMO_ROWS.aliceSystolic}` }, { reference: `Observation/${DEMO_ROWS.aliceDiastolic}` }], 'members; the voided member is absent');
    t.same(group.code.coding?.[1], { system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' });
    for (const o of all<Observation>('Observation')) {
      const values = Object.keys(o).filter((k) => k.startsWith('value'));
      if (values.length > 1) t.fail(`Observation/${o.id} has several values: ${values.join(', ')}`);
    }
  });

  await t.test('MedicationRequest: FHIR2 status, priority, dosage and dispense', async (t) => {
    const m = byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceMetformin);
    t.equal(m.status, 'active');
    t.equal(m.intent, 'order');
    t.equal(m.priority, 'routine');
    t.same(m.medicationCodeableConcept?.coding?.[1], { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '6809', display: 'metformin' });
    t.equal(m.medicationCodeableConcept?.text, 'Metformin 500mg tablet', 'drug name as text');
    t.equal(m.authoredOn, '2025-01-10T09:25:00Z', 'authoredOn is date_created (FHIR2), not the activation');
    t.equal(m.identifier?.[0]?.system, 'urn:openmrs:order-number');
    t.match(m.identifier?.[0], { use: 'usual', value: /^ORD-\d+$/ }, 'the order number');
    t.same(m.requester, { display: 'Dr. Hillside Clinician', identifier: { value: 'PRV-001' } });
    t.same(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.bobLisinopril).requester, { display: 'Dr. Jane Mwangi MD', identifier: { value: 'PRV-003' } }, 'orderer named by its person');
    t.equal(m.reasonCode?.[0]?.coding?.[1]?.code, '44054006');
    t.same(m.note, [{ text: 'Generic is fine' }]);
    t.same(m.priorPrescription, { reference: `MedicationRequest/${DEMO_ROWS.aliceOldMetformin}` }, 'a REVISE order: its prior prescription');
    t.notOk(m.basedOn);
    const renewal = byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.bobLisinoprilRenewal);
    t.same([renewal.basedOn, renewal.priorPrescription], [[{ reference: `MedicationRequest/${DEMO_ROWS.bobLisinopril}` }], undefined], 'a RENEW order: based on the renewed one');
    t.notOk(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.bobLisinopril).priorPrescription, 'a NEW order: none');
    t.equal(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceOldMetformin).meta?.lastUpdated, '2024-01-15T10:00:00Z', 'a stopped order was last updated when stopped');
    const dosage = m.dosageInstruction?.[0];
    t.equal(dosage?.text, 'Take with meals');
    t.same(dosage?.additionalInstruction, [{ text: 'Monitor glucose' }]);
    t.equal(dosage?.timing?.code?.text, 'Twice daily');
    t.same(dosage?.timing?.repeat, { duration: 30, durationUnit: 'd' });
    t.equal(dosage?.route?.text, 'Oral');
    t.same(dosage?.doseAndRate, [{ doseQuantity: { value: 500, unit: 'Tablet' } }]);
    t.equal(dosage?.asNeededBoolean, false);
    t.same(m.dispenseRequest, { validityPeriod: { start: '2025-01-10T09:30:00Z' }, numberOfRepeatsAllowed: 2, quantity: { value: 60, unit: 'Tablet' } });
    t.same(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceAmoxicillin).dispenseRequest?.validityPeriod, { start: '2024-11-20T16:00:00Z', end: '2024-11-27T16:00:00Z' }, 'validity ends at auto-expiry');
    t.same(m.substitution, { allowedBoolean: true });

    const status = (id: string): string | undefined => byId<MedicationRequest>('MedicationRequest', id).status;
    t.equal(status(DEMO_ROWS.aliceOldMetformin), 'cancelled', 'stopped in the past → cancelled');
    t.equal(status(DEMO_ROWS.aliceAtorvastatin), 'completed', 'fulfiller COMPLETED → completed');
    t.equal(status(DEMO_ROWS.aliceAmoxicillin), 'stopped', 'auto-expired → stopped');
    t.equal(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceAtorvastatin).extension?.[0]?.valueCode, 'COMPLETED');
    t.equal(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceAmoxicillin).priority, 'stat');
    t.same(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceAmoxicillin).reasonCode, [{ text: 'Chest infection' }]);
    const prn = byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceSalbutamol);
    t.same(prn.dosageInstruction?.[0]?.asNeededCodeableConcept, { text: 'wheezing' });
    t.equal(prn.priority, 'routine', 'ON_SCHEDULED_DATE → routine');
    t.equal(byId<MedicationRequest>('MedicationRequest', DEMO_ROWS.aliceHerbal).medicationCodeableConcept?.text, 'Ginger tea', 'non-coded drug');
    t.equal(all<MedicationRequest>('MedicationRequest').filter((x) => x.subject?.reference === `Patient/${ALICE}`).length, 7);
  });

  await t.test('AllergyIntolerance: category, criticality, coded allergen, reactions', async (t) => {
    const a = byId<AllergyIntolerance>('AllergyIntolerance', DEMO_ROWS.alicePenicillin);
    t.same(a.category, ['medication']);
    t.equal(a.criticality, 'unable-to-assess', 'moderate severity → unable-to-assess (FHIR2)');
    t.same(a.note, [{ text: 'Since childhood' }]);
    t.equal(a.type, 'allergy');
    t.same(a.verificationStatus?.coding?.[0], { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed', display: 'Confirmed' });
    t.equal(a.code?.text, 'Penicillins');
    t.equal(a.code?.coding?.[1]?.system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
    t.same(a.patient, { reference: `Patient/${ALICE}` });
    t.equal(a.recordedDate, '2019-05-01T09:30:00Z');
    t.equal(a.meta?.lastUpdated, '2024-02-02T11:00:00Z');
    t.same(a.reaction?.[0]?.manifestation?.map((m) => m.text), ['Rash', 'Hives']);
    t.equal(a.reaction?.[0]?.severity, 'moderate');
    t.equal(a.clinicalStatus?.coding?.[0]?.code, 'active');
    const bob = byId<AllergyIntolerance>('AllergyIntolerance', DEMO_ROWS.bobPeanut);
    t.same([bob.category, bob.criticality, bob.reaction?.[0]?.severity], [['food'], 'high', 'severe']);
  });

  // Each search runs through the adapter (pushdown, small pages) and in memory over the
  // unfiltered output; the two must agree exactly.
  const cases: readonly [string, (readonly string[])?][] = [
    ['Patient?birthdate=1984-03-12'], ['Patient?birthdate=ge1980'], ['Patient?birthdate=lt1960-06'], ['Patient?birthdate=sa1984-03-12'],
    ['Patient?birthdate=eb1971'], ['Patient?birthdate=ne1984-03-12'], ['Patient?birthdate=le1971-07-30'], ['Patient?birthdate=gt1971-07-30T10:00:00Z'],
    ['Patient?gender=female'], ['Patient?gender=male,female'], ['Patient?gender:not=male'], [`Patient?_id=${ALICE},${BOB}`],
    ['Patient?_lastUpdated=ge2025-01-01'], ['Patient?_lastUpdated=le2020'], ['Patient?death-date=2024-09'], ['Patient?family=Demo&gender=female'],
    ['Patient?identifier=HSC-10001'], ['Patient?name=alice'], [`Patient?gender=female`, [ALICE, BOB, CAROL]],
    ['Encounter?date=2025-01-10'], ['Encounter?date=ge2024-11-20T15:45:00Z'], ['Encounter?date=lt2025'], ['Encounter?date=eb2024-11-20T15:45:00Z'],
    ['Encounter?type=e22e39fd-7db2-45e7-80f1-60fa0d5a4378'], ['Encounter?type=http://fhir.openmrs.org/code-system/encounter-type|3596fafb-6f6f-4396-8c87-6e63a0f1bd71'],
    ['Encounter?type=http://example.org|3596fafb-6f6f-4396-8c87-6e63a0f1bd71'], ['Encounter?type=http://fhir.openmrs.org/code-system/encounter-type|'],
    ['Encounter?type:not=http://fhir.openmrs.org/code-system/encounter-type|'], ['Encounter?type=http://example.org|'], ['Encounter?_lastUpdated=gt2025-01-10'], ['Encounter?status=unknown&date=ge2025'],
    ['Encounter?date=2025', [ALICE]],
    ['Observation?code=http://loinc.org|29463-7'], ['Observation?code=29463-7'], ['Observation?code=5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['Observation?code=https://cielterminology.org|887'], ['Observation?code=http://loinc.org|29463-7,http://loinc.org|2345-7'],
    ['Observation?code:not=http://loinc.org|29463-7'], ['Observation?code=http://loinc.org|20509-6'], ['Observation?code=|5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['Observation?code=http://snomed.info/sct|'], ['Observation?category=laboratory'], ['Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|exam'],
    ['Observation?status=preliminary'], ['Observation?status=final,amended'], ['Observation?date=2025-01'], ['Observation?date=ge2025-01-10T10:00:00Z'],
    ['Observation?date=le2024-12-31'], ['Observation?date=ap2025-01-10'], ['Observation?date=ge2021&date=lt2023'], [`Observation?encounter=Encounter/${DEMO_ROWS.aliceLabEncounter}`],
    ['Observation?value-concept=http://snomed.info/sct|260385009'], ['Observation?value-date=2025-04'], ['Observation?_lastUpdated=lt2024'],
    ['Observation?value-string=Feels'], ['Observation?code=http://loinc.org|8480-6&date=ge2023', [ALICE, BOB]], ['Observation?category=laboratory', [ALICE]],
    ['MedicationRequest?status=active'], ['MedicationRequest?status=cancelled,stopped'], ['MedicationRequest?status:not=active'],
    ['MedicationRequest?code=http://www.nlm.nih.gov/research/umls/rxnorm|6809'], ['MedicationRequest?authoredon=ge2025-01-10'], ['MedicationRequest?authoredon=2024'],
    ['MedicationRequest?priority=stat'], ['MedicationRequest?intent=order&status=active'], [`MedicationRequest?encounter=Encounter/${DEMO_ROWS.aliceEncounter}`],
    ['MedicationRequest?status=active', [ALICE]], [`MedicationRequest?patient=Patient/${ALICE}`], [`Observation?subject=Patient/${BOB}&_sort=date`],
    ['AllergyIntolerance?code=http://snomed.info/sct|762952008'], ['AllergyIntolerance?category=food'], ['AllergyIntolerance?criticality=high'], ['AllergyIntolerance?criticality=unable-to-assess'],
    ['MedicationRequest?_lastUpdated=2024-01-15'], ['MedicationRequest?_lastUpdated=ge2024-06'],
    ['AllergyIntolerance?date=2020'], ['AllergyIntolerance?clinical-status=active&criticality=low'],
    [`AllergyIntolerance?_id=${DEMO_ROWS.bobPeanut}`], ['AllergyIntolerance?_lastUpdated=ge2024'], [`Encounter?_id=${DEMO_ROWS.aliceLabEncounter}`],
    [`Observation?_id=${DEMO_ROWS.aliceWeight},${DEMO_ROWS.aliceHiv}`], [`MedicationRequest?_id:not=${DEMO_ROWS.aliceMetformin}`],
    ['MedicationRequest?_lastUpdated=2025-01-10'], ['Patient?_lastUpdated=sa2024-09-02T09:00:00Z'],
  ];

  await t.test('every pushed-down parameter agrees with an in-memory evaluation of the same search', async (t) => {
    // Four searches in flight at a time (the pool has four connections), results checked in order.
    const results: (readonly [string, readonly string[] | undefined, string[], string[]])[] = [];
    for (let i = 0; i < cases.length; i += 4) {
      results.push(
        ...(await Promise.all(
          cases.slice(i, i + 4).map(async ([query, patients]) => {
            const request: SearchRequest = parseSearchRequest(query);
            const expected = all(request.resourceType)
              .filter((r) => matchesSearchRequest(r, request))
              .filter((r) => !patients || patients.some((p) => inCompartment(r, p)))
              .map((r) => r.id as string)
              .sort();
            const actual = (await searchAll(query, patients)).map((r) => r.id as string);
            return [query, patients, expected, actual] as const;
          }),
        )),
      );
    }
    for (const [query, patients, expected, actual] of results) {
      t.same([...actual].sort(), expected, `${query}${patients ? ` (patients ${patients.length})` : ''}: ${expected.length} match`);
      t.equal(new Set(actual).size, actual.length, `${query}: no resource twice across pages`);
    }
    const mapping = openmrsMapping();
    for (const [type, resource] of Object.entries(mapping.resources)) {
      for (const param of [...Object.keys(resource.search), '_id', '_lastUpdated']) {
        const covered = cases.some(([q]) => q.startsWith(`${type}?`) && new RegExp(`[?&]${param}(:[a-z]+)?=`).test(q));
        t.ok(covered, `${type} ${param}: pushdown compared with the in-memory evaluation`);
      }
    }
    const bare = await searchAll(`MedicationRequest?encounter=${DEMO_ROWS.aliceEncounter}`);
    t.equal(bare.length, 7, 'a bare id on the single-target encounter reference matches too (FHIR allows it; @medplum/core in memory does not)');
    t.ok(
      cases.filter(([q]) => !q.includes('=ne') && !q.includes(':not')).some(([q]) => q.startsWith('Observation?code=http://loinc.org|29463-7')),
      'the comparisons include selective searches',
    );
  });

  await t.test('ids, codes and systems match exactly and case-sensitively on every database', async (t) => {
    const upper = ALICE.toUpperCase();
    t.equal(await adapter.read('Patient', upper, signal()), undefined, 'read of the upper-cased id: not found');
    t.equal(await adapter.read('Patient', `${ALICE} `, signal()), undefined, 'read of the id with a trailing space: not found');
    const encounterType = 'e22e39fd-7db2-45e7-80f1-60fa0d5a4378';
    const pairs: readonly [exact: string, other: string][] = [
      [`Patient?_id=${ALICE}`, `Patient?_id=${upper}`],
      [`Patient?_id=${ALICE}`, `Patient?_id=${ALICE}%20`],
      ['Patient?gender=female', 'Patient?gender=FEMALE'],
      ['MedicationRequest?status=active', 'MedicationRequest?status=ACTIVE'],
      ['Observation?status=final', 'Observation?status=FINAL'],
      ['Observation?category=laboratory', 'Observation?category=LABORATORY'],
      [`Encounter?type=${encounterType}`, `Encounter?type=${encounterType.toUpperCase()}`],
      [`Encounter?type=${encounterType}`, `Encounter?type=${encounterType}%20`],
      ['Observation?code=5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Observation?code=5089aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
      ['Observation?code=https://cielterminology.org|5089', 'Observation?code=https://CIELterminology.org|5089'],
      ['Observation?code=http://loinc.org|29463-7', 'Observation?code=http://loinc.org|29463-7%20'],
      [`Observation?encounter=Encounter/${DEMO_ROWS.aliceEncounter}`, `Observation?encounter=Encounter/${DEMO_ROWS.aliceEncounter.toUpperCase()}`],
      [`AllergyIntolerance?_id=${DEMO_ROWS.bobPeanut}`, `AllergyIntolerance?_id=${DEMO_ROWS.bobPeanut.toUpperCase()}`],
    ];
    for (const [exact, other] of pairs) {
      t.ok((await searchAll(exact)).length > 0, `${exact} matches`);
      t.same((await searchAll(other)).map((r) => r.id), [], `${decodeURIComponent(other)} matches nothing`);
    }
    const compartment = await adapter.search({ resourceType: 'Observation', filters: [], patients: [upper], count: 10 }, signal());
    t.equal(compartment.resources.length, 0, 'the patient compartment matches the local id exactly');
  });

  await t.test('paging is keyset-stable: sorted pages cover everything once, tokens are bound to their order', async (t) => {
    for (const query of ['Observation?_sort=-date', 'Observation?_sort=date,_lastUpdated', 'MedicationRequest?_sort=_lastUpdated', 'Patient?_sort=birthdate', 'MedicationRequest?_sort=-authoredon', 'Encounter?_sort=-_lastUpdated']) {
      const request = parseSearchRequest(query);
      const paged = await searchAll(query, undefined, 3);
      t.same(paged.map((r) => r.id).sort(), all(request.resourceType).map((r) => r.id).sort(), `${query}: every resource once`);
      const rule = request.sortRules?.[0];
      const key = (r: Resource): string => sortKey(r, rule?.code ?? '');
      const keys = paged.map(key);
      const sorted = [...keys].sort();
      if (rule?.descending) sorted.reverse();
      t.same(keys, sorted, `${query}: in order across pages`);
    }
    // A filter evaluated in memory still pages correctly (short pages allowed, never a repeat).
    const memory = await searchAll('Patient?name=a', undefined, 2);
    t.same(memory.map((r) => r.id).sort(), all('Patient').filter((r) => matchesSearchRequest(r, parseSearchRequest('Patient?name=a'))).map((r) => r.id).sort());
    const first = await adapter.search({ resourceType: 'Observation', filters: [], sort: [{ code: 'date', descending: true }], count: 5 }, signal());
    t.ok(first.next, 'a next token');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [], count: 5, page: first.next }, signal()), 'a token from another order is refused');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [], count: 5, page: 'not-a-token' }, signal()), 'garbage token → 400');
    const forged = Buffer.from(JSON.stringify({ o: '', k: [{ $ne: 1 }] })).toString('base64url');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [], count: 5, page: forged }, signal()), 'forged token → 400');
    const totalPage = await adapter.search({ resourceType: 'Observation', filters: [], patients: [ALICE], count: 2, total: true }, signal());
    t.equal(totalPage.total, all<Observation>('Observation').filter((o) => o.subject?.reference === `Patient/${ALICE}`).length, 'total counts all matches, not the page');
  });

  await t.test('hostile search values change nothing and give 400 or an empty result', async (t) => {
    const countRows = async (): Promise<string> => {
      const w = openSqlConnection(database.writable);
      try {
        const { rows } = await sql<{ p: unknown; o: unknown; r: unknown }>`select (select count(*) from person) as p, (select count(*) from obs) as o, (select count(*) from orders) as r`.execute(w.db);
        return JSON.stringify(rows.map((r) => [Number(r.p), Number(r.o), Number(r.r)]));
      } finally {
        await w.close();
      }
    };
    const before = await countRows();
    const hostile = [
      "' OR '1'='1", "1; DROP TABLE obs; --", "x' UNION SELECT uuid FROM person --", "/* */ OR 1=1", "\\'; DELETE FROM person; --",
      'Robert"); DROP TABLE patient;--', '%', '_', '\u0000', 'a'.repeat(600), '1 OR 1=1', "' AND SLEEP(5) --",
    ];
    const params: readonly [string, string][] = [
      ['Patient', '_id'], ['Patient', 'gender'], ['Patient', 'birthdate'], ['Patient', 'name'], ['Patient', 'identifier'], ['Observation', 'code'],
      ['Observation', 'category'], ['Observation', 'status'], ['Observation', 'date'], ['Observation', 'encounter'], ['Observation', '_lastUpdated'],
      ['MedicationRequest', 'status'], ['MedicationRequest', 'authoredon'], ['AllergyIntolerance', 'criticality'], ['Encounter', 'type'],
    ];
    let empty = 0;
    let rejected = 0;
    for (const [type, code] of params) {
      for (const value of hostile) {
        try {
          const page = await adapter.search({ resourceType: type, filters: [{ code, operator: 'eq' as never, value }], count: 10 }, signal());
          if (page.resources.length !== 0) t.fail(`${type}?${code}=${JSON.stringify(value).slice(0, 40)} returned ${page.resources.length}`);
          else empty++;
        } catch (err) {
          if (isBadRequest(err)) rejected++;
          else t.fail(`${type}?${code}: ${String(err)}`);
        }
      }
      // Hostile patients list: empty, never an error or a leak.
      const page = await adapter.search({ resourceType: type, filters: [], patients: [hostile[0] as string, hostile[2] as string], count: 10 }, signal());
      t.equal(page.resources.length, 0, `${type}: hostile patient ids match nothing`);
    }
    const many = all('Observation').slice(0, 90).map((r) => r.id);
    const byIds = await adapter.search({ resourceType: 'Observation', filters: [{ code: '_id', operator: 'eq' as never, value: many.join(',') }], count: 100 }, signal());
    t.equal(byIds.resources.length, many.length, 'a long _id list (90 uuids) is fine: limits apply per alternative');
    t.ok(empty > 0 && rejected > 0, `each hostile search was empty (${empty}) or 400 (${rejected})`);
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [{ code: 'date', operator: 'eq' as never, value: '2024-13-45' }], count: 1 }, signal()), 'impossible date → 400');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [{ code: 'value-quantity', operator: 'eq' as never, value: '5' }], count: 1 }, signal()), 'undeclared parameter → 400');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [], sort: [{ code: 'value-quantity' }], count: 1 }, signal()), 'unsupported sort → 400');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Observation', filters: [{ code: 'code', operator: 'eq' as never, value: Array.from({ length: 200 }, (_, i) => `c${i}`).join(',') }], count: 1 }, signal()), '200 alternatives → 400');
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Practitioner', filters: [], count: 1 }, signal()), 'unmapped type → 400');
    for (const query of ['Observation?code:text=weight', 'Observation?code:in=http://example.org/vs', 'Observation?code:below=http://loinc.org|29463-7', 'Patient?identifier:text=HSC', 'Patient?name:text=alice', 'Encounter?date:contains=2025']) {
      const request = parseSearchRequest(query);
      await rejectsBadRequest(t, adapter.search({ resourceType: request.resourceType, filters: request.filters ?? [], count: 1 }, signal()), `${query}: a modifier the parameter does not implement → 400`);
    }
    await rejectsBadRequest(t, adapter.search({ resourceType: 'Patient', filters: [{ code: '_id', operator: 'zz' as never, value: ALICE }], count: 1 }, signal()), 'an unknown modifier → 400');
    const missing = await adapter.search({ resourceType: 'Encounter', filters: parseSearchRequest('Encounter?date:missing=false').filters ?? [], count: 1000 }, signal());
    t.equal(missing.resources.length, all('Encounter').length, ':missing is evaluated on the mapped resources');
    t.equal(await countRows(), before, 'no row changed');
    t.same((await adapter.search({ resourceType: 'Patient', filters: [], count: 1000 }, signal())).resources.length, all('Patient').length, 'answers unchanged');
  });

  await t.test('site options: only the configured locations and identifier types are exposed', async (t) => {
    const site = await SqlAdapter.open({
      sourceId: 'hillside-main',
      connection: openSqlConnection(database.options),
      mapping: openmrsMapping({ locations: [LOCATIONS.hillside], identifierTypes: [IDENTIFIER_TYPES.openmrsId] }),
    });
    t.teardown(() => site.close());
    const encounters = await site.search({ resourceType: 'Encounter', filters: [], patients: [ALICE], count: 50 }, signal());
    t.same(encounters.resources.map((e) => e.id).sort(), all<Encounter>('Encounter').filter((e) => e.subject?.reference === `Patient/${ALICE}` && e.location?.[0]?.location?.display === 'Hillside Clinic').map((e) => e.id).sort());
    t.notOk(encounters.resources.some((e) => e.id === DEMO_ROWS.aliceLabEncounter), 'the annex encounter is not this site\'s');
    const patient = (await site.read('Patient', ALICE, signal())) as Patient;
    t.same(patient.identifier?.map((i) => i.value), ['HSC-10001'], 'only OpenMRS IDs');
  });

  await t.test('the connection cannot write, and the adapter refuses a writable one', async (t) => {
    await t.resolves(connection.assertReadOnly(), 'session reports read-only');
    const writes = [
      sql`insert into location (name, creator, date_created, retired, uuid) values (${'x'}, ${1}, ${'2025-01-01 00:00:00'}, ${connection.bool(false)}, ${'00000000-0000-4000-8000-000000000000'})`,
      sql`update person set gender = ${'X'}`,
      sql`delete from obs`,
      sql`create table medrec_probe (id integer)`,
    ];
    for (const write of writes) {
      const text = write.compile(connection.db).sql.slice(0, 30);
      try {
        await write.execute(connection.db);
        t.fail(`${text}… succeeded`);
      } catch (err) {
        t.match(String(err instanceof Error ? err.message : err), /read.?only/i, `${text}… refused as a write on the adapter's connection`);
      }
    }
    const writable = openSqlConnection(database.writable);
    await t.rejects(SqlAdapter.open({ sourceId: 'rw', connection: writable, mapping: openmrsMapping() }), /not read-only/, 'a writable session is refused');
    await writable.close();
    t.equal((await adapter.health(signal())).status, 'up');
  });

  // From here on the tests add rows: everything above saw the seed only.
  await t.test('a database on local time: date-times are that zone\'s wall clock on output, in date bounds and in "now"', async (t) => {
    const local = await SqlAdapter.open({ sourceId: 'openmrs-ny', connection: openSqlConnection(database.options), mapping: openmrsMapping(), timeZone: 'America/New_York' });
    t.teardown(() => local.close());
    const weight = (await local.read('Observation', DEMO_ROWS.aliceWeight, signal())) as Observation;
    t.equal(weight.effectiveDateTime, '2025-01-10T14:05:00Z', 'a January reading is EST (UTC-5)');
    t.equal(weight.meta?.lastUpdated, '2025-01-10T14:05:00Z');
    const alice = (await local.read('Patient', ALICE, signal())) as Patient;
    t.equal(alice.birthDate, '1984-03-12', 'a date stays a calendar date');
    t.same(alice.address?.[0]?.period, { start: '2019-05-01T04:00:00Z' }, 'a May reading is EDT (UTC-4)');
    t.equal((await local.read('Patient', CAROL, signal()) as Patient).deceasedDateTime, '2024-09-01T10:30:00Z');

    const localAll = new Map<string, readonly Resource[]>();
    for (const type of ['Patient', 'Encounter', 'Observation', 'MedicationRequest'] as const) {
      localAll.set(type, (await local.search({ resourceType: type, filters: [], count: 1000 }, signal())).resources);
    }
    const queries = [
      'Observation?date=2025-01-10T14:05:00Z', 'Observation?date=2025-01-10', 'Observation?date=ge2025-01-10T14:00:00Z&date=lt2025-01-10T16:00:00Z',
      'Observation?date=le2025-01-10T14:04:59Z', 'Encounter?date=2024-11-20T20:45:00Z', 'Encounter?date=lt2024-11-20T20:45:00Z', 'Encounter?date=sa2024-11-20T20:44:00Z',
      'Observation?_lastUpdated=ge2025-01-10T15:00:00Z', 'MedicationRequest?authoredon=2025-01-10T14:25:00Z', 'Patient?death-date=2024-09-01T10:30:00Z',
      'Patient?_lastUpdated=2025-02-03T15:15:00Z', 'Observation?date=2024-06',
    ];
    for (const query of queries) {
      const request = parseSearchRequest(query);
      const expected = (localAll.get(request.resourceType) ?? []).filter((r) => matchesSearchRequest(r, request)).map((r) => r.id as string).sort();
      const page = await local.search({ resourceType: request.resourceType, filters: request.filters ?? [], count: 1000 }, signal());
      t.same(page.resources.map((r) => r.id as string).sort(), expected, `${query}: ${expected.length} match on New York time`);
    }
    t.equal((await local.search({ resourceType: 'Observation', filters: parseSearchRequest('Observation?date=2025-01-10T14:05:00Z').filters ?? [], count: 50 }, signal())).resources.length, 9, 'the instants of the 09:05 readings');

    // An order that expired two hours ago on a UTC clock is still running in New York.
    const w = openSqlConnection(database.writable);
    try {
      const reading = new Date(Date.now() - 2 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
      const { rows } = await sql<{ n: unknown }>`select max(order_id) as n from orders`.execute(w.db);
      const id = Number(rows[0]?.n) + 1;
      await sql`insert into orders (order_id, order_type_id, concept_id, orderer, date_activated, auto_expire_date, creator, date_created, voided, patient_id,
        urgency, order_number, order_action, care_setting, encounter_id, uuid) values (${id}, 2, 1, 1, ${'2025-01-01 00:00:00'}, ${reading}, 1,
        ${'2025-01-01 00:00:00'}, ${connection.bool(false)}, 1, 'ROUTINE', ${`ORD-${id}`}, 'NEW', 1, 1, ${EXPIRING_ORDER})`.execute(w.db);
      await sql`insert into drug_order (order_id, dispense_as_written) values (${id}, ${connection.bool(false)})`.execute(w.db);
    } finally {
      await w.close();
    }
    t.equal((await adapter.read('MedicationRequest', EXPIRING_ORDER, signal()) as MedicationRequest).status, 'stopped', 'read as UTC: expired');
    t.equal((await local.read('MedicationRequest', EXPIRING_ORDER, signal()) as MedicationRequest).status, 'active', 'read as New York time: active');
    const active = async (a: SqlAdapter): Promise<boolean> =>
      (await a.search({ resourceType: 'MedicationRequest', filters: parseSearchRequest('MedicationRequest?status=active').filters ?? [], count: 100 }, signal())).resources.some((r) => r.id === EXPIRING_ORDER);
    t.same([await active(adapter), await active(local)], [false, true], 'status=active pushes down the same "now"');
  });

  await t.test('a row inserted between pages: the next page continues after the last row seen, nothing repeated or skipped', async (t) => {
    const sort = [{ code: 'date' }];
    const first = await adapter.search({ resourceType: 'Observation', filters: [], patients: [ALICE], sort, count: 4 }, signal());
    t.ok(first.next, 'more than one page');
    const w = openSqlConnection(database.writable);
    try {
      const { rows } = await sql<{ id: unknown; n: unknown }>`select (select person_id from person where uuid = ${ALICE}) as id, (select max(obs_id) from obs) as n`.execute(w.db);
      const [personId, maxId] = [Number(rows[0]?.id), Number(rows[0]?.n)];
      for (const [offset, at, uuid] of [[1, '2000-01-01 00:00:00', BEFORE_PAGE_OBS], [2, '2030-01-01 00:00:00', AFTER_PAGE_OBS]] as const) {
        await sql`insert into obs (obs_id, person_id, concept_id, obs_datetime, value_numeric, creator, date_created, voided, status, uuid)
          values (${maxId + offset}, ${personId}, 1, ${at}, 70, 1, ${at}, ${connection.bool(false)}, 'FINAL', ${uuid})`.execute(w.db);
      }
    } finally {
      await w.close();
    }
    const ids = first.resources.map((r) => r.id as string);
    for (let page = first.next; page; ) {
      const next = await adapter.search({ resourceType: 'Observation', filters: [], patients: [ALICE], sort, count: 4, page }, signal());
      ids.push(...next.resources.map((r) => r.id as string));
      page = next.next;
    }
    const seeded = all<Observation>('Observation').filter((o) => o.subject?.reference === `Patient/${ALICE}`).map((o) => o.id as string);
    t.equal(new Set(ids).size, ids.length, 'no resource twice');
    t.same([...ids].sort(), [...seeded, AFTER_PAGE_OBS].sort(), 'every row that was there, and the new one after the position; the one before it is not revisited');
  });
}

function inCompartment(r: Resource, patient: string): boolean {
  if (r.resourceType === 'Patient') return r.id === patient;
  const ref = `Patient/${patient}`;
  const { subject, patient: owner } = r as { subject?: { reference?: string }; patient?: { reference?: string } };
  return subject?.reference === ref || owner?.reference === ref;
}

function sortKey(r: Resource, code: string): string {
  switch (code) {
    case 'date':
      return (r as Observation).effectiveDateTime ?? (r as Encounter).period?.start ?? '';
    case 'birthdate':
      return (r as Patient).birthDate ?? '';
    case 'authoredon':
      return (r as MedicationRequest).authoredOn ?? '';
    case '_lastUpdated':
      return r.meta?.lastUpdated ?? '';
    default:
      return '';
  }
}

async function rejectsBadRequest(t: Test, promise: Promise<unknown>, message: string): Promise<void> {
  try {
    await promise;
    t.fail(`${message}: resolved`);
  } catch (err) {
    t.ok(isBadRequest(err), message);
  }
}

function isBadRequest(err: unknown): boolean {
  return err instanceof OperationOutcomeError && isOperationOutcome(err.outcome) && getStatus(err.outcome) === 400;
}
