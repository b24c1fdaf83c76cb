/**
 * A deterministic OpenMRS seed: a small concept dictionary with CIEL/LOINC/SNOMED/RxNorm
 * reference maps, three hand-written demo patients (alice, bob, carol) whose records exercise
 * every element the profile maps (voided rows included, to prove they stay hidden), and any
 * number of generated patients with encounters, observations, drug orders and allergies.
 * Same sizes, same rows, same uuids, on every dialect. Rows go in as multi-row bulk inserts.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DynamicDatabase, SqlDialectName } from '../sql-connection.ts';
import { createOpenmrsSchema } from './openmrs-ddl.ts';

export interface OpenmrsSeedSizes {
  /** Generated patients besides the demo patients. */
  readonly patients: number;
  /** Observations per generated patient (average; the total is exactly patients × this). */
  readonly obsPerPatient: number;
  readonly encountersPerPatient: number;
  /** Drug orders per generated patient. */
  readonly ordersPerPatient: number;
  /** PRNG seed. */
  readonly seed?: number;
}

/** Local ids (person uuids) of the demo patients at the OpenMRS demo source. */
export const OPENMRS_DEMO_PATIENTS = {
  alice: 'a11ce000-0000-4000-8000-0000000000a1',
  bob: 'b0b00000-0000-4000-8000-0000000000b0',
  carol: 'ca201000-0000-4000-8000-0000000000c0',
} as const;
/** A voided patient: present in the tables, never in FHIR output. */
export const OPENMRS_VOIDED_PATIENT = 'dead0000-0000-4000-8000-00000000de01';

export const IDENTIFIER_TYPES = {
  openmrsId: '05a29f94-c0ed-11e2-94be-8c13b969e334',
  nationalId: 'a5d38e09-efcb-4d91-a526-50ce1ba5011a',
  oldId: '8d79403a-c2cc-11de-8d13-0010c6dffd0f',
} as const;
export const LOCATIONS = {
  hillside: '8d6c993e-c2cc-11de-8d13-0010c6dffd0f',
  annex: '7fdfa2cb-bc95-405a-88c6-32b7673c0453',
} as const;

const ciel = (n: number): string => `${n}`.padEnd(36, 'A');

/** Deterministic RFC-4122-shaped uuid for generated rows. */
export function seedUuid(kind: string, n: number): string {
  const h = createHash('sha1').update(`medrec-openmrs/${kind}/${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

interface ConceptSpec {
  readonly key: string;
  readonly uuid: string;
  readonly name: string;
  readonly datatype: 'N/A' | 'Numeric' | 'Coded' | 'Text' | 'Date' | 'Datetime' | 'Boolean';
  readonly cls: 'Test' | 'LabSet' | 'Finding' | 'Diagnosis' | 'Drug' | 'Misc' | 'Frequency' | 'Units' | 'ConvSet' | 'Question';
  readonly maps?: readonly (readonly [source: 'CIEL' | 'LOINC' | 'SNOMED CT' | 'RxNORM', code: string, termName?: string])[];
  readonly numeric?: { units: string; lowNormal?: number; hiNormal?: number; lowCritical?: number; hiCritical?: number; lowAbsolute?: number; hiAbsolute?: number };
}

export const CONCEPTS: readonly ConceptSpec[] = [
  { key: 'weight', uuid: ciel(5089), name: 'Weight (kg)', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5089'], ['LOINC', '29463-7', 'Body weight'], ['SNOMED CT', '27113001']], numeric: { units: 'kg', lowAbsolute: 0, hiAbsolute: 250 } },
  { key: 'height', uuid: ciel(5090), name: 'Height (cm)', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5090'], ['LOINC', '8302-2', 'Body height'], ['SNOMED CT', '50373000']], numeric: { units: 'cm', lowAbsolute: 10, hiAbsolute: 228 } },
  { key: 'systolic', uuid: ciel(5085), name: 'Systolic blood pressure', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5085'], ['LOINC', '8480-6', 'Systolic blood pressure']], numeric: { units: 'mmHg', lowNormal: 90, hiNormal: 120, lowAbsolute: 0, hiAbsolute: 250 } },
  { key: 'diastolic', uuid: ciel(5086), name: 'Diastolic blood pressure', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5086'], ['LOINC', '8462-4', 'Diastolic blood pressure']], numeric: { units: 'mmHg', lowNormal: 60, hiNormal: 80, lowAbsolute: 0, hiAbsolute: 150 } },
  { key: 'pulse', uuid: ciel(5087), name: 'Pulse', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5087'], ['LOINC', '8867-4', 'Heart rate']], numeric: { units: 'beats/min', lowNormal: 60, hiNormal: 100, lowAbsolute: 0, hiAbsolute: 230 } },
  { key: 'temperature', uuid: ciel(5088), name: 'Temperature (C)', datatype: 'Numeric', cls: 'Finding', maps: [['CIEL', '5088'], ['LOINC', '8310-5', 'Body temperature']], numeric: { units: 'DEG C', lowNormal: 36, hiNormal: 37.5, lowAbsolute: 25, hiAbsolute: 43 } },
  { key: 'bpPanel', uuid: seedUuid('concept', 1), name: 'Blood pressure panel', datatype: 'N/A', cls: 'ConvSet', maps: [['LOINC', '85354-9', 'Blood pressure panel']] },
  { key: 'hemoglobin', uuid: ciel(21), name: 'Haemoglobin', datatype: 'Numeric', cls: 'Test', maps: [['CIEL', '21'], ['LOINC', '718-7', 'Hemoglobin [Mass/volume] in Blood']], numeric: { units: 'g/dL', lowNormal: 12, hiNormal: 16, lowCritical: 7, hiCritical: 20, lowAbsolute: 0, hiAbsolute: 30 } },
  { key: 'glucose', uuid: ciel(887), name: 'Serum glucose', datatype: 'Numeric', cls: 'Test', maps: [['CIEL', '887'], ['LOINC', '2345-7', 'Glucose [Mass/volume] in Serum or Plasma']], numeric: { units: 'mg/dL', lowNormal: 70, hiNormal: 100, lowCritical: 40, hiCritical: 400, lowAbsolute: 0, hiAbsolute: 2000 } },
  { key: 'hivTest', uuid: ciel(1040), name: 'HIV rapid test, qualitative', datatype: 'Coded', cls: 'Test', maps: [['CIEL', '1040']] },
  { key: 'positive', uuid: ciel(703), name: 'Positive', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '703'], ['SNOMED CT', '10828004']] },
  { key: 'negative', uuid: ciel(664), name: 'Negative', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '664'], ['SNOMED CT', '260385009']] },
  { key: 'yes', uuid: ciel(1065), name: 'Yes', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '1065']] },
  { key: 'no', uuid: ciel(1066), name: 'No', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '1066']] },
  { key: 'smoker', uuid: seedUuid('concept', 2), name: 'Current smoker', datatype: 'Boolean', cls: 'Question', maps: [['SNOMED CT', '77176002', 'Smoker']] },
  { key: 'note', uuid: ciel(162169), name: 'Clinical notes', datatype: 'Text', cls: 'Question', maps: [['CIEL', '162169']] },
  { key: 'returnDate', uuid: ciel(5096), name: 'Return visit date', datatype: 'Date', cls: 'Question', maps: [['CIEL', '5096'], ['LOINC', '52832-3']] },
  { key: 'diabetes', uuid: seedUuid('concept', 3), name: 'Type 2 diabetes mellitus', datatype: 'N/A', cls: 'Diagnosis', maps: [['SNOMED CT', '44054006']] },
  { key: 'hypertension', uuid: seedUuid('concept', 4), name: 'Hypertension', datatype: 'N/A', cls: 'Diagnosis', maps: [['SNOMED CT', '38341003']] },
  { key: 'metformin', uuid: seedUuid('concept', 5), name: 'Metformin', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '6809', 'metformin']] },
  { key: 'lisinopril', uuid: seedUuid('concept', 6), name: 'Lisinopril', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '29046', 'lisinopril']] },
  { key: 'atorvastatin', uuid: seedUuid('concept', 7), name: 'Atorvastatin', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '83367', 'atorvastatin']] },
  { key: 'amoxicillin', uuid: seedUuid('concept', 8), name: 'Amoxicillin', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '723', 'amoxicillin']] },
  { key: 'salbutamol', uuid: seedUuid('concept', 9), name: 'Salbutamol', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '435', 'albuterol']] },
  { key: 'otherDrug', uuid: ciel(5622), name: 'Other non-coded', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '5622']] },
  { key: 'penicillin', uuid: seedUuid('concept', 10), name: 'Penicillins', datatype: 'N/A', cls: 'Drug', maps: [['RxNORM', '70618', 'penicillin']] },
  { key: 'peanut', uuid: seedUuid('concept', 11), name: 'Peanuts', datatype: 'N/A', cls: 'Misc', maps: [['SNOMED CT', '762952008']] },
  { key: 'rash', uuid: ciel(512), name: 'Rash', datatype: 'N/A', cls: 'Finding', maps: [['CIEL', '512'], ['SNOMED CT', '271807003']] },
  { key: 'hives', uuid: seedUuid('concept', 12), name: 'Hives', datatype: 'N/A', cls: 'Finding', maps: [['SNOMED CT', '126485001']] },
  { key: 'mild', uuid: ciel(1498), name: 'Mild', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '1498']] },
  { key: 'moderate', uuid: ciel(1499), name: 'Moderate', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '1499']] },
  { key: 'severe', uuid: ciel(1500), name: 'Severe', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '1500']] },
  { key: 'tablet', uuid: ciel(1513), name: 'Tablet', datatype: 'N/A', cls: 'Units', maps: [['CIEL', '1513']] },
  { key: 'puff', uuid: seedUuid('concept', 13), name: 'Puff', datatype: 'N/A', cls: 'Units' },
  { key: 'oral', uuid: ciel(160240), name: 'Oral', datatype: 'N/A', cls: 'Misc', maps: [['CIEL', '160240'], ['SNOMED CT', '26643006']] },
  { key: 'inhaled', uuid: seedUuid('concept', 14), name: 'Inhalation', datatype: 'N/A', cls: 'Misc', maps: [['SNOMED CT', '447694001']] },
  { key: 'onceDaily', uuid: seedUuid('concept', 15), name: 'Once daily', datatype: 'N/A', cls: 'Frequency' },
  { key: 'twiceDaily', uuid: seedUuid('concept', 16), name: 'Twice daily', datatype: 'N/A', cls: 'Frequency' },
  { key: 'days', uuid: ciel(1072), name: 'Days', datatype: 'N/A', cls: 'Units', maps: [['CIEL', '1072']] },
];

export const CONCEPT_ID: Readonly<Record<string, number>> = Object.fromEntries(CONCEPTS.map((c, i) => [c.key, i + 1]));
const conceptId = (key: string): number => {
  const id = CONCEPT_ID[key];
  if (id === undefined) throw new Error(`no seed concept ${key}`);
  return id;
};

const DATATYPES = ['N/A', 'Numeric', 'Coded', 'Text', 'Date', 'Datetime', 'Boolean'] as const;
const CLASSES = ['Test', 'LabSet', 'Finding', 'Diagnosis', 'Drug', 'Misc', 'Frequency', 'Units', 'ConvSet', 'Question'] as const;
const SOURCES = ['CIEL', 'LOINC', 'SNOMED CT', 'RxNORM'] as const;

type Row = Record<string, string | number | boolean | null>;

/** Buffers rows per table and writes them as multi-row inserts. */
class BulkWriter {
  readonly #db: Kysely<DynamicDatabase>;
  readonly #dialect: SqlDialectName;
  readonly #buffers = new Map<string, Row[]>();

  constructor(db: Kysely<DynamicDatabase>, dialect: SqlDialectName) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async add(table: string, row: Row): Promise<void> {
    let buffer = this.#buffers.get(table);
    if (!buffer) this.#buffers.set(table, (buffer = []));
    buffer.push(row);
    // SQLite binds at most 32766 parameters per statement; stay well below on every dialect.
    if (buffer.length * Object.keys(row).length >= 30_000) await this.flush(table);
  }

  async flush(table?: string): Promise<void> {
    for (const name of table ? [table] : [...this.#buffers.keys()]) {
      const rows = this.#buffers.get(name);
      if (!rows || rows.length === 0) continue;
      this.#buffers.set(name, []);
      const values = this.#dialect === 'sqlite' ? rows.map(sqliteRow) : rows;
      await this.#db.insertInto(name).values(values).execute();
    }
  }
}

function sqliteRow(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  return out;
}

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number): string => String(n).padStart(2, '0');
function ts(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const audit = (created: string): Row => ({ creator: 1, date_created: created });
const FIRST_NAMES = ['Amina', 'Joseph', 'Grace', 'Peter', 'Mary', 'John', 'Faith', 'David', 'Ruth', 'Samuel', 'Esther', 'Daniel'];
const FAMILY_NAMES = ['Okello', 'Wanjiru', 'Mensah', 'Banda', 'Njoroge', 'Achieng', 'Mutua', 'Osei', 'Phiri', 'Kamau'];

export interface SeedResult {
  readonly patients: number;
  readonly observations: number;
}

/** Creates the schema and loads the seed through a writable connection. */
export async function seedOpenmrs(db: Kysely<DynamicDatabase>, dialect: SqlDialectName, sizes: OpenmrsSeedSizes): Promise<SeedResult> {
  await createOpenmrsSchema(db, dialect);
  const w = new BulkWriter(db, dialect);
  const load = async (): Promise<SeedResult> => {
    await referenceData(w);
    const ids = new Ids();
    await demoPatients(w, ids);
    await generatedPatients(w, ids, sizes);
    await w.flush();
    return { patients: ids.person, observations: ids.obs };
  };
  // One transaction on SQLite (orders of magnitude faster); autocommit batches elsewhere.
  if (dialect === 'sqlite') {
    await sql`begin`.execute(db);
    try {
      const result = await load();
      await sql`commit`.execute(db);
      return result;
    } catch (err) {
      await sql`rollback`.execute(db);
      throw err;
    }
  }
  return load();
}

async function referenceData(w: BulkWriter): Promise<void> {
  const created = '2019-01-01 00:00:00';
  await w.add('location', { location_id: 1, name: 'Hillside Clinic', city_village: 'Hillside', country: 'Kenya', ...audit(created), retired: false, uuid: LOCATIONS.hillside });
  await w.add('location', { location_id: 2, name: 'Hillside Annex', city_village: 'Hillside', country: 'Kenya', ...audit(created), retired: false, uuid: LOCATIONS.annex });
  const types = [
    [1, 'OpenMRS ID', IDENTIFIER_TYPES.openmrsId, false],
    [2, 'National ID', IDENTIFIER_TYPES.nationalId, false],
    [3, 'Old Identification Number', IDENTIFIER_TYPES.oldId, true],
  ] as const;
  for (const [id, name, uuid, isRetired] of types) {
    await w.add('patient_identifier_type', { patient_identifier_type_id: id, name, check_digit: false, required: false, ...audit(created), retired: isRetired, uuid });
  }
  const encounterTypes = [
    [1, 'Adult Visit', 'e22e39fd-7db2-45e7-80f1-60fa0d5a4378'],
    [2, 'Lab Results', '3596fafb-6f6f-4396-8c87-6e63a0f1bd71'],
    [3, 'Vitals', '67a71486-1a54-468f-ac3e-7091a9a79584'],
  ] as const;
  for (const [id, name, uuid] of encounterTypes) await w.add('encounter_type', { encounter_type_id: id, name, ...audit(created), retired: false, uuid });
  await w.add('visit_type', { visit_type_id: 1, name: 'Outpatient', ...audit(created), retired: false, uuid: '7b0f5697-27e3-40c4-8bae-f4049abfb4ed' });
  await w.add('encounter_role', { encounter_role_id: 1, name: 'Clinician', ...audit(created), retired: false, uuid: '240b26f9-dd88-4172-823d-4a8bfeb7841f' });
  await w.add('provider', { provider_id: 1, person_id: null, name: 'Dr. Hillside Clinician', identifier: 'PRV-001', ...audit(created), retired: false, uuid: seedUuid('provider', 1) });
  await w.add('provider', { provider_id: 2, person_id: null, name: 'Nurse Hillside', identifier: 'PRV-002', ...audit(created), retired: false, uuid: seedUuid('provider', 2) });
  for (const [i, name] of DATATYPES.entries()) await w.add('concept_datatype', { concept_datatype_id: i + 1, name, ...audit(created), retired: false, uuid: seedUuid('datatype', i) });
  for (const [i, name] of CLASSES.entries()) await w.add('concept_class', { concept_class_id: i + 1, name, ...audit(created), retired: false, uuid: seedUuid('class', i) });
  for (const [i, name] of SOURCES.entries()) await w.add('concept_reference_source', { concept_source_id: i + 1, name, ...audit(created), retired: false, uuid: seedUuid('source', i) });
  await w.add('concept_map_type', { concept_map_type_id: 1, name: 'SAME-AS', is_hidden: false, ...audit(created), retired: false, uuid: '35543629-7d8c-11e1-909d-c80aa9edcf4e' });
  await w.add('concept_map_type', { concept_map_type_id: 2, name: 'NARROWER-THAN', is_hidden: false, ...audit(created), retired: false, uuid: '43ac5109-7d8c-11e1-909d-c80aa9edcf4e' });
  let termId = 0;
  let nameId = 0;
  for (const [i, c] of CONCEPTS.entries()) {
    const id = i + 1;
    await w.add('concept', {
      concept_id: id, retired: false, datatype_id: DATATYPES.indexOf(c.datatype) + 1, class_id: CLASSES.indexOf(c.cls) + 1,
      is_set: c.key === 'bpPanel', ...audit(created), uuid: c.uuid,
    });
    await w.add('concept_name', { concept_name_id: ++nameId, concept_id: id, name: c.name, locale: 'en', locale_preferred: true, concept_name_type: 'FULLY_SPECIFIED', ...audit(created), voided: false, uuid: seedUuid('cname', nameId) });
    // A short name and a French name: neither may win over the preferred English name.
    await w.add('concept_name', { concept_name_id: ++nameId, concept_id: id, name: c.name.slice(0, 6), locale: 'en', locale_preferred: false, concept_name_type: 'SHORT', ...audit(created), voided: false, uuid: seedUuid('cname', nameId) });
    await w.add('concept_name', { concept_name_id: ++nameId, concept_id: id, name: `${c.name} (fr)`, locale: 'fr', locale_preferred: true, concept_name_type: 'FULLY_SPECIFIED', ...audit(created), voided: false, uuid: seedUuid('cname', nameId) });
    for (const [source, code, termName] of c.maps ?? []) {
      termId++;
      await w.add('concept_reference_term', { concept_reference_term_id: termId, concept_source_id: SOURCES.indexOf(source) + 1, name: termName ?? null, code, ...audit(created), retired: false, uuid: seedUuid('term', termId) });
      await w.add('concept_reference_map', { concept_map_id: termId, concept_reference_term_id: termId, concept_map_type_id: 1, concept_id: id, ...audit(created), uuid: seedUuid('map', termId) });
    }
    if (c.numeric) {
      const n = c.numeric;
      await w.add('concept_numeric', {
        concept_id: id, units: n.units, low_normal: n.lowNormal ?? null, hi_normal: n.hiNormal ?? null, low_critical: n.lowCritical ?? null,
        hi_critical: n.hiCritical ?? null, low_absolute: n.lowAbsolute ?? null, hi_absolute: n.hiAbsolute ?? null, allow_decimal: true,
      });
    }
  }
  // A NARROWER-THAN map must not become a coding: hemoglobin → a broader LOINC term.
  termId++;
  await w.add('concept_reference_term', { concept_reference_term_id: termId, concept_source_id: 2, name: 'Hemoglobin (narrower)', code: '20509-6', ...audit(created), retired: false, uuid: seedUuid('term', termId) });
  await w.add('concept_reference_map', { concept_map_id: termId, concept_reference_term_id: termId, concept_map_type_id: 2, concept_id: conceptId('hemoglobin'), ...audit(created), uuid: seedUuid('map', termId) });
  const drugs = [
    [1, 'metformin', 'Metformin 500mg tablet', '500mg'],
    [2, 'lisinopril', 'Lisinopril 10mg tablet', '10mg'],
    [3, 'atorvastatin', 'Atorvastatin 20mg tablet', '20mg'],
    [4, 'amoxicillin', 'Amoxicillin 500mg capsule', '500mg'],
    [5, 'salbutamol', 'Salbutamol 100mcg inhaler', '100mcg'],
  ] as const;
  for (const [id, key, name, strength] of drugs) {
    await w.add('drug', { drug_id: id, concept_id: conceptId(key), name, combination: false, strength, ...audit(created), retired: false, uuid: seedUuid('drug', id) });
  }
  await w.add('order_frequency', { order_frequency_id: 1, concept_id: conceptId('onceDaily'), frequency_per_day: 1, ...audit(created), retired: false, uuid: seedUuid('freq', 1) });
  await w.add('order_frequency', { order_frequency_id: 2, concept_id: conceptId('twiceDaily'), frequency_per_day: 2, ...audit(created), retired: false, uuid: seedUuid('freq', 2) });
}

/** Id counters shared by the demo and generated rows. */
class Ids {
  person = 0;
  name = 0;
  address = 0;
  identifier = 0;
  visit = 0;
  encounter = 0;
  encounterProvider = 0;
  obs = 0;
  order = 0;
  allergy = 0;
  reaction = 0;
}

interface PersonSpec {
  readonly uuid: string;
  readonly gender: string;
  readonly birthdate: string;
  readonly dead?: string;
  readonly voided?: boolean;
  readonly created: string;
  readonly changed?: string;
  /** A person who is not a patient (e.g. a provider's person). */
  readonly notPatient?: boolean;
}

async function person(w: BulkWriter, ids: Ids, p: PersonSpec): Promise<number> {
  const id = ++ids.person;
  await w.add('person', {
    person_id: id, gender: p.gender, birthdate: p.birthdate, birthdate_estimated: false, dead: p.dead !== undefined,
    death_date: p.dead ?? null, deathdate_estimated: false, ...audit(p.created), changed_by: p.changed ? 1 : null, date_changed: p.changed ?? null,
    voided: p.voided ?? false, uuid: p.uuid,
  });
  if (!p.notPatient) await w.add('patient', { patient_id: id, ...audit(p.created), voided: p.voided ?? false, allergy_status: 'See list' });
  return id;
}

async function name(w: BulkWriter, ids: Ids, personId: number, given: string, family: string, extra: Row = {}): Promise<void> {
  const id = ++ids.name;
  await w.add('person_name', {
    person_name_id: id, preferred: true, person_id: personId, prefix: null, given_name: given, middle_name: null, family_name: family,
    family_name_suffix: null, degree: null, ...audit('2019-05-01 09:00:00'), voided: false, uuid: seedUuid('name', id), ...extra,
  });
}

async function identifier(w: BulkWriter, ids: Ids, personId: number, value: string, type: number, preferred: boolean, extra: Row = {}): Promise<void> {
  const id = ++ids.identifier;
  await w.add('patient_identifier', {
    patient_identifier_id: id, patient_id: personId, identifier: value, identifier_type: type, preferred, location_id: 1,
    ...audit('2019-05-01 09:00:00'), voided: false, uuid: seedUuid('identifier', id), ...extra,
  });
}

async function address(w: BulkWriter, ids: Ids, personId: number, extra: Row): Promise<void> {
  const id = ++ids.address;
  await w.add('person_address', {
    person_address_id: id, person_id: personId, preferred: true, address1: null, address2: null, city_village: null, state_province: null,
    postal_code: null, country: null, county_district: null, start_date: null, end_date: null, ...audit('2019-05-01 09:00:00'), voided: false,
    uuid: seedUuid('address', id), ...extra,
  });
}

async function encounter(w: BulkWriter, ids: Ids, personId: number, at: string, type: number, extra: Row = {}): Promise<number> {
  const id = ++ids.encounter;
  await w.add('encounter', {
    encounter_id: id, encounter_type: type, patient_id: personId, location_id: 1, encounter_datetime: at, ...audit(at), voided: false,
    changed_by: null, date_changed: null, visit_id: null, uuid: seedUuid('encounter', id), ...extra,
  });
  return id;
}

interface ObsSpec {
  readonly concept: string;
  readonly at: string;
  readonly encounterId?: number | null;
  readonly numeric?: number;
  readonly coded?: string;
  readonly text?: string;
  readonly datetime?: string;
  readonly group?: number;
  readonly status?: string;
  readonly interpretation?: string;
  readonly voided?: boolean;
  readonly comments?: string;
  readonly uuid?: string;
}

async function obs(w: BulkWriter, ids: Ids, personId: number, o: ObsSpec): Promise<number> {
  const id = ++ids.obs;
  await w.add('obs', {
    obs_id: id, person_id: personId, concept_id: conceptId(o.concept), encounter_id: o.encounterId ?? null, obs_datetime: o.at, location_id: 1,
    obs_group_id: o.group ?? null, value_coded: o.coded ? conceptId(o.coded) : null, value_datetime: o.datetime ?? null,
    value_numeric: o.numeric ?? null, value_text: o.text ?? null, comments: o.comments ?? null, ...audit(o.at), voided: o.voided ?? false,
    status: o.status ?? 'FINAL', interpretation: o.interpretation ?? null, uuid: o.uuid ?? seedUuid('obs', id),
  });
  return id;
}

interface OrderSpec {
  readonly drug?: number;
  readonly concept: string;
  readonly activated: string;
  readonly autoExpire?: string;
  readonly stopped?: string;
  readonly action?: string;
  readonly urgency?: string;
  readonly fulfiller?: string;
  readonly previous?: number;
  readonly voided?: boolean;
  readonly reason?: string;
  readonly reasonText?: string;
  readonly encounterId: number;
  readonly dose?: number;
  readonly doseUnits?: string;
  readonly route?: string;
  readonly frequency?: number;
  readonly asNeeded?: boolean;
  readonly asNeededCondition?: string;
  readonly dosingInstructions?: string;
  readonly instructions?: string;
  readonly quantity?: number;
  readonly quantityUnits?: string;
  readonly refills?: number;
  readonly duration?: number;
  readonly nonCoded?: string;
  readonly comment?: string;
  readonly orderer?: number;
  /** When it was entered (`date_created`), if before its activation. */
  readonly created?: string;
  readonly uuid?: string;
}

async function drugOrder(w: BulkWriter, ids: Ids, personId: number, o: OrderSpec): Promise<number> {
  const id = ++ids.order;
  await w.add('orders', {
    order_id: id, order_type_id: 2, concept_id: conceptId(o.concept), orderer: o.orderer ?? 1, instructions: o.instructions ?? null, date_activated: o.activated,
    auto_expire_date: o.autoExpire ?? null, date_stopped: o.stopped ?? null, order_reason: o.reason ? conceptId(o.reason) : null,
    order_reason_non_coded: o.reasonText ?? null, ...audit(o.created ?? o.activated), voided: o.voided ?? false, patient_id: personId,
    urgency: o.urgency ?? 'ROUTINE', order_number: `ORD-${id}`, previous_order_id: o.previous ?? null, order_action: o.action ?? 'NEW',
    comment_to_fulfiller: o.comment ?? null, care_setting: 1, fulfiller_status: o.fulfiller ?? null, encounter_id: o.encounterId,
    uuid: o.uuid ?? seedUuid('order', id),
  });
  await w.add('drug_order', {
    order_id: id, drug_inventory_id: o.drug ?? null, dose: o.dose ?? null, as_needed: o.asNeeded ?? false, dosing_type: 'org.openmrs.SimpleDosingInstructions',
    quantity: o.quantity ?? null, as_needed_condition: o.asNeededCondition ?? null, num_refills: o.refills ?? null,
    dosing_instructions: o.dosingInstructions ?? null, duration: o.duration ?? null, duration_units: o.duration ? conceptId('days') : null,
    quantity_units: o.quantityUnits ? conceptId(o.quantityUnits) : null, route: o.route ? conceptId(o.route) : null,
    dose_units: o.doseUnits ? conceptId(o.doseUnits) : null, frequency: o.frequency ?? null, dispense_as_written: false, drug_non_coded: o.nonCoded ?? null,
  });
  return id;
}

async function allergy(w: BulkWriter, ids: Ids, personId: number, a: { allergen: string; type: string; severity?: string; reactions: string[]; nonCoded?: string; comments?: string; voided?: boolean; created: string; changed?: string; uuid?: string }): Promise<void> {
  const id = ++ids.allergy;
  await w.add('allergy', {
    allergy_id: id, patient_id: personId, severity_concept_id: a.severity ? conceptId(a.severity) : null, coded_allergen: conceptId(a.allergen),
    non_coded_allergen: a.nonCoded ?? null, allergen_type: a.type, comments: a.comments ?? null, ...audit(a.created), changed_by: a.changed ? 1 : null,
    date_changed: a.changed ?? null, voided: a.voided ?? false, uuid: a.uuid ?? seedUuid('allergy', id),
  });
  for (const r of a.reactions) {
    const rid = ++ids.reaction;
    await w.add('allergy_reaction', { allergy_reaction_id: rid, allergy_id: id, reaction_concept_id: conceptId(r), reaction_non_coded: null, uuid: seedUuid('reaction', rid) });
  }
}

/** Fixed uuids of demo rows the tests look at. */
export const DEMO_ROWS = {
  aliceVisit: 'a11ce000-0000-4000-8000-00000000e100',
  aliceEncounter: 'a11ce000-0000-4000-8000-00000000e101',
  aliceLabEncounter: 'a11ce000-0000-4000-8000-00000000e102',
  aliceWeight: 'a11ce000-0000-4000-8000-000000000b01',
  aliceBpGroup: 'a11ce000-0000-4000-8000-000000000b02',
  aliceSystolic: 'a11ce000-0000-4000-8000-000000000b03',
  aliceDiastolic: 'a11ce000-0000-4000-8000-000000000b04',
  aliceGlucose: 'a11ce000-0000-4000-8000-000000000b05',
  aliceHiv: 'a11ce000-0000-4000-8000-000000000b06',
  aliceSmoker: 'a11ce000-0000-4000-8000-000000000b07',
  aliceNote: 'a11ce000-0000-4000-8000-000000000b08',
  aliceReturn: 'a11ce000-0000-4000-8000-000000000b09',
  aliceVoidedObs: 'a11ce000-0000-4000-8000-000000000b0a',
  aliceHemoglobin: 'a11ce000-0000-4000-8000-000000000b0b',
  aliceMetformin: 'a11ce000-0000-4000-8000-000000000d01',
  aliceLisinopril: 'a11ce000-0000-4000-8000-000000000d02',
  aliceAtorvastatin: 'a11ce000-0000-4000-8000-000000000d03',
  aliceAmoxicillin: 'a11ce000-0000-4000-8000-000000000d04',
  aliceOldMetformin: 'a11ce000-0000-4000-8000-000000000d05',
  aliceDiscontinue: 'a11ce000-0000-4000-8000-000000000d06',
  aliceVoidedOrder: 'a11ce000-0000-4000-8000-000000000d07',
  aliceSalbutamol: 'a11ce000-0000-4000-8000-000000000d08',
  aliceHerbal: 'a11ce000-0000-4000-8000-000000000d09',
  alicePenicillin: 'a11ce000-0000-4000-8000-000000000f01',
  aliceVoidedAllergy: 'a11ce000-0000-4000-8000-000000000f02',
  bobPeanut: 'b0b00000-0000-4000-8000-000000000f01',
  bobEncounter: 'b0b00000-0000-4000-8000-00000000e101',
  clinicianPerson: 'c1c1c1c1-0000-4000-8000-0000000000c1',
  bobLisinopril: 'b0b00000-0000-4000-8000-000000000d01',
  bobLisinoprilRenewal: 'b0b00000-0000-4000-8000-000000000d02',
} as const;

async function demoPatients(w: BulkWriter, ids: Ids): Promise<void> {
  const R = DEMO_ROWS;
  // Alice: two names (one older, not preferred), a voided name, three identifiers (one voided), two addresses.
  const alice = await person(w, ids, { uuid: OPENMRS_DEMO_PATIENTS.alice, gender: 'F', birthdate: '1984-03-12', created: '2019-05-01 09:00:00', changed: '2025-02-03 10:15:00' });
  await name(w, ids, alice, 'Alice', 'Demo', { prefix: 'Ms.', middle_name: 'Marie' });
  await name(w, ids, alice, 'Alice', 'Maiden', { preferred: false });
  await name(w, ids, alice, 'Alyce', 'Typo', { preferred: false, voided: true });
  await identifier(w, ids, alice, 'HSC-10001', 1, true);
  await identifier(w, ids, alice, 'NID-8840312', 2, false);
  await identifier(w, ids, alice, 'WRONG-1', 1, false, { voided: true });
  await address(w, ids, alice, { address1: '12 Hill Road', address2: 'Flat 3', city_village: 'Hillside', state_province: 'Central', postal_code: '00100', country: 'Kenya', county_district: 'Hill County', start_date: '2019-05-01 00:00:00' });
  await address(w, ids, alice, { preferred: false, address1: '4 Old Street', city_village: 'Lowtown', country: 'Kenya', end_date: '2019-04-30 00:00:00' });

  await w.add('visit', { visit_id: ++ids.visit, patient_id: alice, visit_type_id: 1, date_started: '2025-01-10 08:30:00', date_stopped: '2025-01-10 12:00:00', location_id: 1, ...audit('2025-01-10 08:30:00'), voided: false, uuid: R.aliceVisit });
  const visitId = ids.visit;
  const enc = await encounter(w, ids, alice, '2025-01-10 09:00:00', 1, { visit_id: visitId, uuid: R.aliceEncounter, date_changed: '2025-01-11 08:00:00', changed_by: 1 });
  const lab = await encounter(w, ids, alice, '2025-01-10 10:30:00', 2, { visit_id: visitId, uuid: R.aliceLabEncounter, location_id: 2 });
  await w.add('encounter_provider', { encounter_provider_id: ++ids.encounterProvider, encounter_id: enc, provider_id: 1, encounter_role_id: 1, ...audit('2025-01-10 09:00:00'), voided: false, uuid: seedUuid('ep', ids.encounterProvider) });
  await encounter(w, ids, alice, '2024-06-02 14:00:00', 3, { voided: true });
  await encounter(w, ids, alice, '2024-11-20 15:45:00', 3);

  const at = '2025-01-10 09:05:00';
  await obs(w, ids, alice, { concept: 'weight', at, encounterId: enc, numeric: 68.5, uuid: R.aliceWeight });
  await obs(w, ids, alice, { concept: 'height', at, encounterId: enc, numeric: 165 });
  const group = await obs(w, ids, alice, { concept: 'bpPanel', at, encounterId: enc, uuid: R.aliceBpGroup });
  await obs(w, ids, alice, { concept: 'systolic', at, encounterId: enc, numeric: 142, group, interpretation: 'HIGH', uuid: R.aliceSystolic });
  await obs(w, ids, alice, { concept: 'diastolic', at, encounterId: enc, numeric: 91, group, interpretation: 'HIGH', uuid: R.aliceDiastolic });
  await obs(w, ids, alice, { concept: 'pulse', at, encounterId: enc, numeric: 72, group, voided: true });
  await obs(w, ids, alice, { concept: 'temperature', at, encounterId: enc, numeric: 36.8, status: 'AMENDED' });
  await obs(w, ids, alice, { concept: 'glucose', at: '2025-01-10 10:40:00', encounterId: lab, numeric: 182, interpretation: 'HIGH', uuid: R.aliceGlucose });
  await obs(w, ids, alice, { concept: 'hemoglobin', at: '2025-01-10 10:40:00', encounterId: lab, numeric: 13.1, status: 'PRELIMINARY', uuid: R.aliceHemoglobin });
  await obs(w, ids, alice, { concept: 'hivTest', at: '2025-01-10 10:45:00', encounterId: lab, coded: 'negative', uuid: R.aliceHiv });
  await obs(w, ids, alice, { concept: 'smoker', at, encounterId: enc, coded: 'no', uuid: R.aliceSmoker });
  await obs(w, ids, alice, { concept: 'note', at, encounterId: enc, text: 'Feels well; review glucose in 3 months.', comments: 'entered by nurse', uuid: R.aliceNote });
  await obs(w, ids, alice, { concept: 'returnDate', at, encounterId: enc, datetime: '2025-04-10 09:00:00', uuid: R.aliceReturn });
  await obs(w, ids, alice, { concept: 'weight', at: '2024-11-20 15:50:00', numeric: 70.2 });
  await obs(w, ids, alice, { concept: 'weight', at: '2024-06-02 14:05:00', numeric: 99.9, voided: true, uuid: R.aliceVoidedObs });

  // Drug orders: active, active with coded reason, completed, expired, discontinued (+ its DISCONTINUE), voided, PRN, non-coded, STAT.
  const old = await drugOrder(w, ids, alice, { drug: 1, concept: 'metformin', activated: '2023-02-01 10:00:00', stopped: '2024-01-15 10:00:00', encounterId: enc, dose: 500, doseUnits: 'tablet', route: 'oral', frequency: 1, uuid: R.aliceOldMetformin });
  await drugOrder(w, ids, alice, { drug: 1, concept: 'metformin', activated: '2024-01-15 10:00:00', action: 'DISCONTINUE', previous: old, encounterId: enc, uuid: R.aliceDiscontinue });
  await drugOrder(w, ids, alice, {
    drug: 1, concept: 'metformin', created: '2025-01-10 09:25:00', activated: '2025-01-10 09:30:00', previous: old, action: 'REVISE', reason: 'diabetes', encounterId: enc, dose: 500, doseUnits: 'tablet',
    route: 'oral', frequency: 2, dosingInstructions: 'Take with meals', instructions: 'Monitor glucose', quantity: 60, quantityUnits: 'tablet', refills: 2, duration: 30,
    comment: 'Generic is fine', uuid: R.aliceMetformin,
  });
  await drugOrder(w, ids, alice, { drug: 2, concept: 'lisinopril', activated: '2025-01-10 09:35:00', reason: 'hypertension', encounterId: enc, dose: 10, doseUnits: 'tablet', route: 'oral', frequency: 1, quantity: 30, quantityUnits: 'tablet', refills: 5, uuid: R.aliceLisinopril });
  await drugOrder(w, ids, alice, { drug: 3, concept: 'atorvastatin', activated: '2024-03-01 09:00:00', fulfiller: 'COMPLETED', encounterId: enc, dose: 20, doseUnits: 'tablet', route: 'oral', frequency: 1, uuid: R.aliceAtorvastatin });
  await drugOrder(w, ids, alice, { drug: 4, concept: 'amoxicillin', activated: '2024-11-20 16:00:00', autoExpire: '2024-11-27 16:00:00', urgency: 'STAT', encounterId: enc, dose: 500, doseUnits: 'tablet', route: 'oral', frequency: 2, duration: 7, reasonText: 'Chest infection', uuid: R.aliceAmoxicillin });
  await drugOrder(w, ids, alice, { drug: 2, concept: 'lisinopril', activated: '2025-01-09 09:00:00', voided: true, encounterId: enc, uuid: R.aliceVoidedOrder });
  await drugOrder(w, ids, alice, { drug: 5, concept: 'salbutamol', activated: '2025-01-10 09:40:00', asNeeded: true, asNeededCondition: 'wheezing', encounterId: enc, dose: 2, doseUnits: 'puff', route: 'inhaled', urgency: 'ON_SCHEDULED_DATE', uuid: R.aliceSalbutamol });
  await drugOrder(w, ids, alice, { concept: 'otherDrug', nonCoded: 'Ginger tea', activated: '2025-01-10 09:45:00', encounterId: enc, uuid: R.aliceHerbal });

  await allergy(w, ids, alice, { allergen: 'penicillin', type: 'DRUG', severity: 'moderate', reactions: ['rash', 'hives'], comments: 'Since childhood', created: '2019-05-01 09:30:00', changed: '2024-02-02 11:00:00', uuid: R.alicePenicillin });
  await allergy(w, ids, alice, { allergen: 'peanut', type: 'FOOD', severity: 'mild', reactions: ['rash'], voided: true, created: '2019-05-01 09:31:00', uuid: R.aliceVoidedAllergy });

  // A provider as real OpenMRS has them: no provider.name, the name is the person's (preferred, not voided).
  const clinician = await person(w, ids, { uuid: DEMO_ROWS.clinicianPerson, gender: 'F', birthdate: '1980-02-02', created: '2019-01-01 00:00:00', notPatient: true });
  await name(w, ids, clinician, 'Janet', 'Typo', { voided: true });
  await name(w, ids, clinician, 'Jane', 'Otieno', { preferred: false });
  await name(w, ids, clinician, 'Jane', 'Mwangi', { prefix: 'Dr.', degree: 'MD' });
  await w.add('provider', { provider_id: 3, person_id: clinician, name: null, identifier: 'PRV-003', ...audit('2019-01-01 00:00:00'), retired: false, uuid: seedUuid('provider', 3) });

  // Bob: one of each, a severe food allergy, an active prescription (seen and ordered by the provider without provider.name).
  const bob = await person(w, ids, { uuid: OPENMRS_DEMO_PATIENTS.bob, gender: 'M', birthdate: '1971-07-30', created: '2020-02-10 11:00:00' });
  await name(w, ids, bob, 'Bob', 'Demo');
  await identifier(w, ids, bob, 'HSC-10002', 1, true);
  await address(w, ids, bob, { address1: '7 River Lane', city_village: 'Hillside', country: 'Kenya', postal_code: '00100' });
  const bobEnc = await encounter(w, ids, bob, '2025-03-03 11:00:00', 1, { uuid: DEMO_ROWS.bobEncounter });
  await w.add('encounter_provider', { encounter_provider_id: ++ids.encounterProvider, encounter_id: bobEnc, provider_id: 3, encounter_role_id: 1, ...audit('2025-03-03 11:00:00'), voided: false, uuid: seedUuid('ep', ids.encounterProvider) });
  await obs(w, ids, bob, { concept: 'weight', at: '2025-03-03 11:05:00', encounterId: bobEnc, numeric: 82 });
  await obs(w, ids, bob, { concept: 'systolic', at: '2025-03-03 11:05:00', encounterId: bobEnc, numeric: 128 });
  await obs(w, ids, bob, { concept: 'smoker', at: '2025-03-03 11:05:00', encounterId: bobEnc, coded: 'yes' });
  const bobLisinopril = await drugOrder(w, ids, bob, { drug: 2, concept: 'lisinopril', activated: '2025-03-03 11:20:00', reason: 'hypertension', encounterId: bobEnc, orderer: 3, dose: 5, doseUnits: 'tablet', route: 'oral', frequency: 1, quantity: 30, quantityUnits: 'tablet', uuid: R.bobLisinopril });
  await drugOrder(w, ids, bob, {
    drug: 2, concept: 'lisinopril', activated: '2025-04-02 09:00:00', action: 'RENEW', previous: bobLisinopril, encounterId: bobEnc, orderer: 3, dose: 5,
    doseUnits: 'tablet', route: 'oral', frequency: 1, quantity: 30, quantityUnits: 'tablet', uuid: R.bobLisinoprilRenewal,
  });
  await allergy(w, ids, bob, { allergen: 'peanut', type: 'FOOD', severity: 'severe', reactions: ['hives'], created: '2020-02-10 11:10:00', uuid: R.bobPeanut });

  // Carol: deceased.
  const carol = await person(w, ids, { uuid: OPENMRS_DEMO_PATIENTS.carol, gender: 'F', birthdate: '1950-10-05', dead: '2024-09-01 06:30:00', created: '2018-08-08 08:00:00', changed: '2024-09-02 09:00:00' });
  await name(w, ids, carol, 'Carol', 'Demo');
  await identifier(w, ids, carol, 'HSC-10003', 1, true);
  const carolEnc = await encounter(w, ids, carol, '2024-08-20 10:00:00', 1);
  await obs(w, ids, carol, { concept: 'pulse', at: '2024-08-20 10:05:00', encounterId: carolEnc, numeric: 88 });

  // A voided patient: never in the output, nor its rows (which are not voided themselves).
  const voided = await person(w, ids, { uuid: OPENMRS_VOIDED_PATIENT, gender: 'M', birthdate: '1990-01-01', voided: true, created: '2021-01-01 00:00:00' });
  await name(w, ids, voided, 'Voided', 'Person');
  const voidedEnc = await encounter(w, ids, voided, '2021-01-02 10:00:00', 1);
  await obs(w, ids, voided, { concept: 'weight', at: '2021-01-02 10:05:00', encounterId: voidedEnc, numeric: 77 });
  await drugOrder(w, ids, voided, { drug: 1, concept: 'metformin', activated: '2021-01-02 10:10:00', encounterId: voidedEnc });
  await allergy(w, ids, voided, { allergen: 'peanut', type: 'FOOD', reactions: ['rash'], created: '2021-01-02 10:15:00' });
}

const DAY_MS = 86_400_000;
const BASE_MS = Date.UTC(2020, 0, 1);

/** Generated patients; returns the number of observations written. */
async function generatedPatients(w: BulkWriter, ids: Ids, sizes: OpenmrsSeedSizes): Promise<number> {
  const rand = prng(sizes.seed ?? 7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const vitals = ['weight', 'height', 'systolic', 'diastolic', 'pulse', 'temperature'] as const;
  const ranges: Readonly<Record<string, readonly [number, number]>> = {
    weight: [45, 110], height: [150, 195], systolic: [95, 170], diastolic: [55, 105], pulse: [50, 110], temperature: [35.8, 38.9],
    hemoglobin: [8, 17], glucose: [60, 260],
  };
  const before = ids.obs;
  for (let i = 1; i <= sizes.patients; i++) {
    const created = ts(BASE_MS + Math.floor(rand() * 365 * DAY_MS));
    const pid = await person(w, ids, {
      uuid: seedUuid('person', i), gender: rand() < 0.5 ? 'F' : 'M',
      birthdate: ts(Date.UTC(1940, 0, 1) + Math.floor(rand() * 70 * 365 * DAY_MS)).slice(0, 10),
      dead: rand() < 0.02 ? ts(BASE_MS + Math.floor((2 + rand() * 3) * 365 * DAY_MS)) : undefined,
      created, changed: rand() < 0.3 ? ts(BASE_MS + Math.floor((1 + rand() * 4) * 365 * DAY_MS)) : undefined,
    });
    await name(w, ids, pid, pick(FIRST_NAMES), pick(FAMILY_NAMES));
    await identifier(w, ids, pid, `HSC-${20000 + i}`, 1, true);
    if (rand() < 0.5) await identifier(w, ids, pid, `NID-${9000000 + i}`, 2, false);
    await address(w, ids, pid, { address1: `${1 + Math.floor(rand() * 200)} Market Street`, city_village: pick(['Hillside', 'Lowtown', 'Riverside']), country: 'Kenya' });

    const encounters: { id: number; at: number }[] = [];
    for (let e = 0; e < sizes.encountersPerPatient; e++) {
      const at = BASE_MS + Math.floor(rand() * 5 * 365 * DAY_MS);
      encounters.push({ id: await encounter(w, ids, pid, ts(at), 1 + Math.floor(rand() * 3), { location_id: rand() < 0.8 ? 1 : 2 }), at });
    }
    for (let o = 0; o < sizes.obsPerPatient; o++) {
      const enc = encounters.length > 0 ? pick(encounters) : undefined;
      const atMs = (enc?.at ?? BASE_MS + Math.floor(rand() * 5 * 365 * DAY_MS)) + Math.floor(rand() * 3600) * 1000;
      const at = ts(atMs);
      const r = rand();
      const common = { at, encounterId: enc?.id ?? null, voided: rand() < 0.02, status: rand() < 0.05 ? 'PRELIMINARY' : 'FINAL' };
      if (r < 0.7) {
        const concept = pick(vitals);
        const [lo, hi] = ranges[concept] as readonly [number, number];
        await obs(w, ids, pid, { ...common, concept, numeric: Math.round((lo + rand() * (hi - lo)) * 10) / 10 });
      } else if (r < 0.85) {
        const concept = rand() < 0.5 ? 'hemoglobin' : 'glucose';
        const [lo, hi] = ranges[concept] as readonly [number, number];
        const value = Math.round((lo + rand() * (hi - lo)) * 10) / 10;
        await obs(w, ids, pid, { ...common, concept, numeric: value, interpretation: value > hi * 0.9 ? 'HIGH' : 'NORMAL' });
      } else if (r < 0.9) {
        await obs(w, ids, pid, { ...common, concept: 'hivTest', coded: rand() < 0.1 ? 'positive' : 'negative' });
      } else if (r < 0.95) {
        await obs(w, ids, pid, { ...common, concept: 'note', text: pick(['Stable.', 'Review in 3 months.', 'Counselled on diet.', 'No complaints.']) });
      } else if (r < 0.98) {
        await obs(w, ids, pid, { ...common, concept: 'smoker', coded: rand() < 0.2 ? 'yes' : 'no' });
      } else {
        await obs(w, ids, pid, { ...common, concept: 'returnDate', datetime: ts(atMs + 90 * DAY_MS) });
      }
    }
    for (let o = 0; o < sizes.ordersPerPatient; o++) {
      const enc = encounters.length > 0 ? pick(encounters) : { id: await encounter(w, ids, pid, created, 1), at: BASE_MS };
      const drug = 1 + Math.floor(rand() * 5);
      const concept = (['metformin', 'lisinopril', 'atorvastatin', 'amoxicillin', 'salbutamol'] as const)[drug - 1] as string;
      const activated = enc.at + 3600_000;
      const kind = rand();
      await drugOrder(w, ids, pid, {
        drug, concept, activated: ts(activated), encounterId: enc.id, dose: 1, doseUnits: 'tablet', route: 'oral', frequency: 1 + Math.floor(rand() * 2),
        quantity: 30, quantityUnits: 'tablet', refills: Math.floor(rand() * 3),
        autoExpire: kind < 0.3 ? ts(activated + 30 * DAY_MS) : undefined,
        fulfiller: kind > 0.9 ? 'COMPLETED' : undefined,
        urgency: rand() < 0.1 ? 'STAT' : 'ROUTINE',
      });
    }
    if (rand() < 0.2) {
      await allergy(w, ids, pid, { allergen: rand() < 0.5 ? 'penicillin' : 'peanut', type: rand() < 0.5 ? 'DRUG' : 'FOOD', severity: pick(['mild', 'moderate', 'severe']), reactions: [pick(['rash', 'hives'])], created });
    }
  }
  return ids.obs - before;
}
