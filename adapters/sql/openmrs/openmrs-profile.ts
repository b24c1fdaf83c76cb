/**
 * The OpenMRS 2.x profile: a `SqlMapping` from OpenMRS's own tables to FHIR R4 following the
 * OpenMRS FHIR2 module's translators (openmrs-module-fhir2 `api/.../translators/impl/`):
 * uuid as id, voided rows left out, `date_changed` (else `date_created`) as `meta.lastUpdated`,
 * concepts as CodeableConcepts whose first coding is the concept uuid and whose other codings
 * come from SAME-AS reference maps (LOINC, CIEL, SNOMED CT, RxNorm), drug orders with FHIR2's
 * status/priority/dosage/dispense semantics and DISCONTINUE orders left out.
 *
 * Where FHIR2 points at resources this source does not serve (Practitioner, Location,
 * Medication) the references carry a display and identifier only, and a visit is the
 * encounter's contained `partOf` Encounter, so every reference stays resolvable.
 */
import type { Cond, Expr, Join, JsonValue, ResourceMapping, SqlMapping, Template } from '../mapping.ts';

export interface OpenmrsProfileOptions {
  /** Locale of concept names. Default `en`. */
  readonly locale?: string;
  /** concept_reference_source.name → code system URL (FHIR2's `fhir_concept_source`). */
  readonly conceptSystems?: Readonly<Record<string, string>>;
  /** Only these patient identifier types (uuids) are exposed. Default: all. */
  readonly identifierTypes?: readonly string[];
  /** patient_identifier_type.uuid → Identifier.system (FHIR2's `fhir_patient_identifier_system`). */
  readonly identifierSystems?: Readonly<Record<string, string>>;
  /** Only encounters, observations and orders at these locations (uuids). Default: all. */
  readonly locations?: readonly string[];
  /** Global properties `concept.true` / `concept.false` (CIEL 1065 / 1066 by default). */
  readonly trueConceptUuid?: string;
  readonly falseConceptUuid?: string;
  /** Global properties `allergy.concept.severity.{mild,moderate,severe}` (CIEL 1498/1499/1500). */
  readonly severityConcepts?: { readonly mild: string; readonly moderate: string; readonly severe: string };
}

export const DEFAULT_CONCEPT_SYSTEMS: Readonly<Record<string, string>> = {
  LOINC: 'http://loinc.org',
  'SNOMED CT': 'http://snomed.info/sct',
  CIEL: 'https://cielterminology.org',
  RxNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
};

const CIEL_TRUE = '1065AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CIEL_FALSE = '1066AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CIEL_SEVERITY = {
  mild: '1498AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  moderate: '1499AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  severe: '1500AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
};
/** CIEL duration-unit concepts → UCUM (FHIR2 DurationUnitTranslatorImpl). */
const DURATION_UNITS: Readonly<Record<string, JsonValue>> = {
  '1822AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'h',
  '1072AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'd',
  '1073AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'wk',
  '1074AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'mo',
  '1734AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'a',
  '1733AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 'min',
  '162583AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA': 's',
};

/** concept_class.name → Observation.category (FHIR2 ObservationCategoryTranslatorImpl). */
const OBSERVATION_CATEGORY: Readonly<Record<string, readonly string[]>> = {
  laboratory: ['Test', 'LabSet'],
  procedure: ['Procedure'],
  exam: ['Finding', 'Symptom', 'Symptom/Finding'],
};
const OBS_STATUS: Readonly<Record<string, readonly string[]>> = { final: ['FINAL'], preliminary: ['PRELIMINARY'], amended: ['AMENDED'] };
const GENDER: Readonly<Record<string, readonly string[]>> = { male: ['M'], female: ['F'], other: ['O'], unknown: ['U'] };
const PRIORITY: Readonly<Record<string, readonly string[]>> = { routine: ['ROUTINE', 'ON_SCHEDULED_DATE'], stat: ['STAT'] };
const ALLERGEN_CATEGORY: Readonly<Record<string, readonly string[]>> = { medication: ['DRUG'], food: ['FOOD'], environment: ['ENVIRONMENT'] };
const INTERPRETATION: Readonly<Record<string, JsonValue>> = {
  NORMAL: 'N', ABNORMAL: 'A', CRITICALLY_ABNORMAL: 'AA', NEGATIVE: 'NEG', POSITIVE: 'POS', CRITICALLY_HIGH: 'HH',
  CRITICALLY_LOW: 'LL', HIGH: 'H', LOW: 'L', OFF_SCALE_HIGH: '>', OFF_SCALE_LOW: '<', SIGNIFICANT_CHANGE_DOWN: 'D',
  SIGNIFICANT_CHANGE_UP: 'U',
};

const OBS_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';
/**
 * Units (concept_numeric.units) that are UCUM codes as written: FHIR2 gives those quantities the
 * UCUM system and code; other units (`mmHg`, `DEG C`, `beats/min`) stay text only.
 */
const UCUM_UNITS = [
  '%', 'a', 'cm', 'cm[H2O]', 'd', 'dL', 'fL', 'g', 'g/dL', 'g/L', 'h', 'kg', 'kg/m2', 'L', 'm', 'meq/L', 'mg', 'mg/dL', 'mg/L', 'min', 'mL',
  'mL/min', 'mm', 'mm[Hg]', 'mmol/L', 'mo', 'mol/L', 'ng/mL', 'pg', 'pg/mL', 's', 'U/L', 'ug', 'ug/dL', 'umol/L', 'wk', '/min', '/h', 'Cel',
  '[degF]', '10*3/uL', '10*6/uL', '10*9/L', '10*12/L', '[in_i]', '[lb_av]',
];
const UCUM_SYSTEM: Readonly<Record<string, JsonValue>> = Object.fromEntries(UCUM_UNITS.map((u) => [u, 'http://unitsofmeasure.org']));
const UCUM_CODE: Readonly<Record<string, JsonValue>> = Object.fromEntries(UCUM_UNITS.map((u) => [u, u]));
const ENCOUNTER_TYPE_SYSTEM = 'http://fhir.openmrs.org/code-system/encounter-type';

/** `{ M: 'male' }` from `{ male: ['M'] }`, so output and pushdown share one table. */
function invert(codes: Readonly<Record<string, readonly string[]>>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [fhir, dbValues] of Object.entries(codes)) for (const v of dbValues) out[v] = fhir;
  return out;
}

const notVoided = (alias: string): Cond => ({ cmp: [`${alias}.voided`, '=', { lit: false }] });
const lastUpdated = (alias: string): Expr => ({ coalesce: [`${alias}.date_changed`, `${alias}.date_created`] });
/** Sorts rows whose flag is set first (preferred names, identifiers, addresses). */
const flagFirst = (column: string): Expr => ({ case: [{ when: [{ cmp: [column, '=', { lit: true }] }], then: '0' }], else: '1' });

export function openmrsMapping(options: OpenmrsProfileOptions = {}): SqlMapping {
  const locale = options.locale ?? 'en';
  const systems = options.conceptSystems ?? DEFAULT_CONCEPT_SYSTEMS;
  const trueUuid = options.trueConceptUuid ?? CIEL_TRUE;
  const falseUuid = options.falseConceptUuid ?? CIEL_FALSE;
  const severity = options.severityConcepts ?? CIEL_SEVERITY;
  const atLocations = (alias: string): Cond[] =>
    options.locations ? [{ in: `${alias}.uuid`, values: [...options.locations] }] : [];

  // A concept as FHIR2's ConceptTranslator renders it.
  const conceptCodings: Template = {
    array: [
      { object: { code: { field: 'uuid' }, display: { first: 'names', item: { field: 'name' } } } },
      {
        each: 'codings',
        item: {
          object: { system: { map: 'source', values: systems }, code: { field: 'code' }, display: { field: 'term_name' } },
          requires: ['system', 'code'],
        },
      },
    ],
  };
  const conceptName: Template = { first: 'names', item: { field: 'name' } };
  const concept = (key: string): Template => ({
    lookup: 'concept',
    key,
    item: { object: { coding: conceptCodings, text: conceptName } },
  });
  const conceptText = (key: string): Template => ({ lookup: 'concept', key, item: conceptName });

  const patient: ResourceMapping = {
    from: { table: 'person', as: 'p' },
    joins: [{ table: 'patient', as: 'pt', type: 'inner', on: [{ cmp: ['pt.patient_id', '=', 'p.person_id'] }] }],
    where: [notVoided('p'), notVoided('pt')],
    key: 'p.person_id',
    id: 'p.uuid',
    lastUpdated: lastUpdated('p'),
    patient: 'p.uuid',
    select: { gender: 'p.gender', birthdate: 'p.birthdate', dead: 'p.dead', death_date: 'p.death_date' },
    children: {
      names: {
        from: { table: 'person_name', as: 'n' },
        where: [notVoided('n')],
        parentKey: 'n.person_id',
        orderBy: [flagFirst('n.preferred'), 'n.person_name_id'],
        select: {
          uuid: 'n.uuid', preferred: 'n.preferred', prefix: 'n.prefix', given_name: 'n.given_name', middle_name: 'n.middle_name',
          family_name: 'n.family_name', family_name_suffix: 'n.family_name_suffix', degree: 'n.degree',
        },
      },
      identifiers: {
        from: { table: 'patient_identifier', as: 'i' },
        joins: [
          { table: 'patient_identifier_type', as: 'it', type: 'inner', on: [{ cmp: ['it.patient_identifier_type_id', '=', 'i.identifier_type'] }] },
          { table: 'location', as: 'l', type: 'left', on: [{ cmp: ['l.location_id', '=', 'i.location_id'] }] },
        ],
        where: [notVoided('i'), ...(options.identifierTypes ? [{ in: 'it.uuid', values: [...options.identifierTypes] }] : [])],
        parentKey: 'i.patient_id',
        orderBy: [flagFirst('i.preferred'), 'i.patient_identifier_id'],
        select: { uuid: 'i.uuid', value: 'i.identifier', preferred: 'i.preferred', type_uuid: 'it.uuid', type_name: 'it.name', location_name: 'l.name' },
      },
      addresses: {
        from: { table: 'person_address', as: 'a' },
        where: [notVoided('a')],
        parentKey: 'a.person_id',
        orderBy: [flagFirst('a.preferred'), 'a.person_address_id'],
        select: {
          uuid: 'a.uuid', preferred: 'a.preferred', address1: 'a.address1', address2: 'a.address2', city: 'a.city_village',
          district: 'a.county_district', state: 'a.state_province', postal_code: 'a.postal_code', country: 'a.country',
          start_date: 'a.start_date', end_date: 'a.end_date',
        },
      },
    },
    resource: {
      object: {
        active: { const: true },
        identifier: {
          each: 'identifiers',
          item: {
            object: {
              id: { field: 'uuid' },
              extension: {
                array: [
                  {
                    object: {
                      url: { const: 'http://fhir.openmrs.org/ext/patient/identifier#location' },
                      valueReference: { object: { display: { field: 'location_name' } } },
                    },
                    requires: ['valueReference'],
                  },
                ],
              },
              use: { if: 'preferred', then: { const: 'official' }, else: { const: 'usual' } },
              type: {
                object: {
                  coding: { array: [{ object: { code: { field: 'type_uuid' }, display: { field: 'type_name' } } }] },
                  text: { field: 'type_name' },
                },
              },
              system: { map: 'type_uuid', values: options.identifierSystems ?? {} },
              value: { field: 'value' },
            },
          },
        },
        name: {
          each: 'names',
          item: {
            object: {
              id: { field: 'uuid' },
              use: { if: 'preferred', then: { const: 'official' }, else: { const: 'usual' } },
              family: { field: 'family_name' },
              given: { array: [{ field: 'given_name' }, { field: 'middle_name' }] },
              prefix: { array: [{ field: 'prefix' }] },
              suffix: { array: [{ field: 'family_name_suffix' }, { field: 'degree' }] },
            },
          },
        },
        gender: { map: 'gender', values: invert(GENDER), otherwise: 'unknown' },
        birthDate: { field: 'birthdate', as: 'date' },
        address: {
          each: 'addresses',
          item: {
            object: {
              id: { field: 'uuid' },
              use: { if: 'preferred', then: { const: 'home' } },
              line: { array: [{ field: 'address1' }, { field: 'address2' }] },
              city: { field: 'city' },
              district: { field: 'district' },
              state: { field: 'state' },
              postalCode: { field: 'postal_code' },
              country: { field: 'country' },
              period: { object: { start: { field: 'start_date', as: 'dateTime' }, end: { field: 'end_date', as: 'dateTime' } } },
            },
          },
        },
      },
      choice: [
        {
          deceasedDateTime: { field: 'death_date', as: 'dateTime' },
          deceasedBoolean: { if: 'dead', then: { const: true }, else: { const: false } },
        },
      ],
    },
    search: {
      birthdate: { kind: 'date', expr: 'p.birthdate', precision: 'date' },
      'death-date': { kind: 'date', expr: 'p.death_date', precision: 'second' },
      gender: { kind: 'token', expr: 'p.gender', codes: GENDER },
    },
    searchInMemory: ['name', 'family', 'given', 'identifier', 'address', 'address-city', 'address-postalcode', 'address-country', 'address-state', 'active', 'deceased'],
    sort: { birthdate: { expr: 'p.birthdate', nullable: true, kind: 'date' } },
  };

  const encounter: ResourceMapping = {
    from: { table: 'encounter', as: 'e' },
    joins: [
      { table: 'person', as: 'p', type: 'inner', on: [{ cmp: ['p.person_id', '=', 'e.patient_id'] }] },
      { table: 'encounter_type', as: 'et', type: 'inner', on: [{ cmp: ['et.encounter_type_id', '=', 'e.encounter_type'] }] },
      { table: 'location', as: 'l', type: 'left', on: [{ cmp: ['l.location_id', '=', 'e.location_id'] }] },
      { table: 'visit', as: 'v', type: 'left', on: [{ cmp: ['v.visit_id', '=', 'e.visit_id'] }, notVoided('v')] },
      { table: 'visit_type', as: 'vt', type: 'left', on: [{ cmp: ['vt.visit_type_id', '=', 'v.visit_type_id'] }] },
    ],
    where: [notVoided('e'), notVoided('p'), ...atLocations('l')],
    key: 'e.encounter_id',
    id: 'e.uuid',
    lastUpdated: lastUpdated('e'),
    patient: 'p.uuid',
    select: {
      patient_uuid: 'p.uuid', type_uuid: 'et.uuid', type_name: 'et.name', location_name: 'l.name', encounter_datetime: 'e.encounter_datetime',
      visit_uuid: 'v.uuid', visit_type: 'vt.name', visit_start: 'v.date_started', visit_stop: 'v.date_stopped',
    },
    children: {
      participants: {
        from: { table: 'encounter_provider', as: 'ep' },
        joins: [{ table: 'encounter_role', as: 'er', type: 'left', on: [{ cmp: ['er.encounter_role_id', '=', 'ep.encounter_role_id'] }] }],
        where: [notVoided('ep')],
        parentKey: 'ep.encounter_id',
        orderBy: ['ep.encounter_provider_id'],
        select: { provider_id: 'ep.provider_id', role: 'er.name' },
      },
    },
    resource: {
      object: {
        meta: { object: { tag: { const: [{ system: 'http://fhir.openmrs.org/ext/encounter-tag', code: 'encounter', display: 'Encounter' }] } } },
        contained: {
          array: [
            {
              if: 'visit_uuid',
              then: {
                object: {
                  resourceType: { const: 'Encounter' },
                  id: { const: 'visit' },
                  meta: { object: { tag: { const: [{ system: 'http://fhir.openmrs.org/ext/encounter-tag', code: 'visit', display: 'Visit' }] } } },
                  identifier: { array: [{ object: { system: { const: 'urn:openmrs:visit' }, value: { field: 'visit_uuid' } } }] },
                  status: { if: 'visit_stop', then: { const: 'finished' }, else: { const: 'in-progress' } },
                  class: { const: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' } },
                  type: { array: [{ object: { text: { field: 'visit_type' } } }] },
                  subject: { ref: 'Patient', field: 'patient_uuid' },
                  period: { object: { start: { field: 'visit_start', as: 'dateTime' }, end: { field: 'visit_stop', as: 'dateTime' } } },
                },
              },
            },
          ],
        },
        status: { const: 'unknown' },
        class: { const: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' } },
        type: {
          array: [
            {
              object: {
                coding: { array: [{ object: { system: { const: ENCOUNTER_TYPE_SYSTEM }, code: { field: 'type_uuid' }, display: { field: 'type_name' } } }] },
                text: { field: 'type_name' },
              },
            },
          ],
        },
        subject: { ref: 'Patient', field: 'patient_uuid' },
        participant: {
          each: 'participants',
          item: {
            object: {
              type: { array: [{ object: { text: { field: 'role' } } }] },
              individual: practitioner('provider_id'),
            },
          },
        },
        period: { object: { start: { field: 'encounter_datetime', as: 'dateTime' }, end: { field: 'encounter_datetime', as: 'dateTime' } } },
        location: { array: [{ object: { location: { object: { display: { field: 'location_name' } } } }, requires: ['location'] }] },
        partOf: { if: 'visit_uuid', then: { object: { reference: { const: '#visit' }, display: { field: 'visit_type' } } } },
      },
    },
    search: {
      date: { kind: 'date', expr: 'e.encounter_datetime', precision: 'second' },
      type: { kind: 'token', expr: 'et.uuid', system: ENCOUNTER_TYPE_SYSTEM },
    },
    searchInMemory: ['status', 'class'],
    sort: { date: { expr: 'e.encounter_datetime', kind: 'date' } },
  };

  const observation: ResourceMapping = {
    from: { table: 'obs', as: 'o' },
    joins: [
      { table: 'person', as: 'p', type: 'inner', on: [{ cmp: ['p.person_id', '=', 'o.person_id'] }] },
      { table: 'concept', as: 'c', type: 'inner', on: [{ cmp: ['c.concept_id', '=', 'o.concept_id'] }] },
      { table: 'concept_class', as: 'cc', type: 'inner', on: [{ cmp: ['cc.concept_class_id', '=', 'c.class_id'] }] },
      { table: 'concept_datatype', as: 'dt', type: 'inner', on: [{ cmp: ['dt.concept_datatype_id', '=', 'c.datatype_id'] }] },
      { table: 'concept_numeric', as: 'cn', type: 'left', on: [{ cmp: ['cn.concept_id', '=', 'o.concept_id'] }] },
      { table: 'concept', as: 'vc', type: 'left', on: [{ cmp: ['vc.concept_id', '=', 'o.value_coded'] }] },
      { table: 'encounter', as: 'e', type: 'left', on: [{ cmp: ['e.encounter_id', '=', 'o.encounter_id'] }] },
      ...(options.locations ? [{ table: 'location', as: 'l', type: 'left' as const, on: [{ cmp: ['l.location_id', '=', 'o.location_id'] } as Cond] }] : []),
    ],
    where: [notVoided('o'), notVoided('p'), ...atLocations('l')],
    key: 'o.obs_id',
    id: 'o.uuid',
    // Obs rows are immutable in OpenMRS (an edit voids and replaces): no date_changed.
    lastUpdated: 'o.date_created',
    patient: 'p.uuid',
    select: {
      patient_uuid: 'p.uuid', encounter_uuid: 'e.uuid', concept_id: 'o.concept_id', is_set: 'c.is_set', class_name: 'cc.name', status: 'o.status',
      interpretation: 'o.interpretation', obs_datetime: 'o.obs_datetime', issued: 'o.date_created', comments: 'o.comments',
      value_numeric: 'o.value_numeric', value_text: 'o.value_text', value_datetime: 'o.value_datetime', value_coded: 'o.value_coded',
      value_boolean: {
        case: [
          { when: [{ cmp: ['dt.name', '=', { lit: 'Boolean' }] }, { or: [{ cmp: ['vc.uuid', '=', { lit: trueUuid }] }, { cmp: ['o.value_numeric', '=', { lit: 1 }] }] }], then: 'true' },
          { when: [{ cmp: ['dt.name', '=', { lit: 'Boolean' }] }, { or: [{ cmp: ['vc.uuid', '=', { lit: falseUuid }] }, { cmp: ['o.value_numeric', '=', { lit: 0 }] }] }], then: 'false' },
        ],
        else: null,
      },
      units: 'cn.units', low_normal: 'cn.low_normal', hi_normal: 'cn.hi_normal', low_critical: 'cn.low_critical',
      hi_critical: 'cn.hi_critical', low_absolute: 'cn.low_absolute', hi_absolute: 'cn.hi_absolute',
    },
    children: {
      members: {
        from: { table: 'obs', as: 'm' },
        where: [notVoided('m')],
        parentKey: 'm.obs_group_id',
        orderBy: ['m.obs_id'],
        // Only obs of set concepts are groups.
        onlyWhere: 'is_set',
        select: { uuid: 'm.uuid' },
      },
    },
    resource: {
      object: {
        status: { map: 'status', values: invert(OBS_STATUS), otherwise: 'unknown' },
        category: {
          array: [
            {
              object: {
                coding: {
                  array: [{ object: { system: { const: OBS_CATEGORY_SYSTEM }, code: { map: 'class_name', values: invert(OBSERVATION_CATEGORY) } }, requires: ['code'] }],
                },
              },
            },
          ],
        },
        code: concept('concept_id'),
        subject: { ref: 'Patient', field: 'patient_uuid' },
        encounter: { ref: 'Encounter', field: 'encounter_uuid' },
        effectiveDateTime: { field: 'obs_datetime', as: 'dateTime' },
        issued: { field: 'issued', as: 'instant' },
        interpretation: {
          array: [
            {
              object: {
                coding: {
                  array: [
                    {
                      object: {
                        system: { const: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation' },
                        code: { map: 'interpretation', values: INTERPRETATION },
                      },
                      requires: ['code'],
                    },
                  ],
                },
              },
            },
          ],
        },
        note: { array: [{ object: { text: { field: 'comments' } } }] },
        referenceRange: {
          array: [
            range('low_normal', 'hi_normal', { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/referencerange-meaning', code: 'normal', display: 'Normal Range' }] }),
            range('low_critical', 'hi_critical', { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/referencerange-meaning', code: 'treatment', display: 'Treatment Range' }], text: 'critical' }),
            range('low_absolute', 'hi_absolute', { text: 'absolute' }),
          ],
        },
        hasMember: { each: 'members', item: { ref: 'Observation', field: 'uuid' } },
      },
      choice: [
        {
          valueBoolean: { map: 'value_boolean', values: { true: true, false: false } },
          valueCodeableConcept: concept('value_coded'),
          valueDateTime: { field: 'value_datetime', as: 'dateTime' },
          valueQuantity: {
            object: {
              value: { field: 'value_numeric', as: 'decimal' },
              unit: { field: 'units' },
              system: { map: 'units', values: UCUM_SYSTEM },
              code: { map: 'units', values: UCUM_CODE },
            },
            requires: ['value'],
          },
          valueString: { field: 'value_text' },
        },
      ],
    },
    search: {
      code: { kind: 'coding', expr: 'o.concept_id', lookup: 'concept' },
      'value-concept': { kind: 'coding', expr: 'o.value_coded', lookup: 'concept' },
      category: { kind: 'token', expr: 'cc.name', system: OBS_CATEGORY_SYSTEM, codes: OBSERVATION_CATEGORY },
      status: { kind: 'token', expr: 'o.status', codes: OBS_STATUS },
      date: { kind: 'date', expr: 'o.obs_datetime', precision: 'second' },
      'value-date': { kind: 'date', expr: 'o.value_datetime', precision: 'second' },
      encounter: { kind: 'reference', expr: 'e.uuid', target: 'Encounter' },
    },
    searchInMemory: ['value-string'],
    sort: { date: { expr: 'o.obs_datetime', kind: 'date' } },
  };

  // FHIR2 MedicationRequestStatusTranslatorImpl over openmrs-core Order.isActive(now).
  const orderStatus: Expr = {
    case: [
      { when: [{ cmp: ['o.fulfiller_status', '=', { lit: 'COMPLETED' }] }], then: 'completed' },
      {
        when: [
          { notNull: 'o.date_activated' },
          { cmp: ['o.date_activated', '<=', { now: true }] },
          { or: [{ isNull: 'o.date_stopped' }, { cmp: ['o.date_stopped', '>=', { now: true }] }] },
          { or: [{ isNull: 'o.auto_expire_date' }, { cmp: ['o.auto_expire_date', '>=', { now: true }] }] },
        ],
        then: 'active',
      },
      { when: [{ notNull: 'o.date_stopped' }, { cmp: ['o.date_stopped', '<', { now: true }] }], then: 'cancelled' },
      { when: [{ notNull: 'o.auto_expire_date' }, { cmp: ['o.auto_expire_date', '<', { now: true }] }], then: 'stopped' },
    ],
    else: 'unknown',
  };

  const medicationRequest: ResourceMapping = {
    from: { table: 'orders', as: 'o' },
    joins: [
      { table: 'drug_order', as: 'd', type: 'inner', on: [{ cmp: ['d.order_id', '=', 'o.order_id'] }] },
      { table: 'person', as: 'p', type: 'inner', on: [{ cmp: ['p.person_id', '=', 'o.patient_id'] }] },
      { table: 'encounter', as: 'e', type: 'left', on: [{ cmp: ['e.encounter_id', '=', 'o.encounter_id'] }] },
      { table: 'drug', as: 'dr', type: 'left', on: [{ cmp: ['dr.drug_id', '=', 'd.drug_inventory_id'] }] },
      { table: 'order_frequency', as: 'f', type: 'left', on: [{ cmp: ['f.order_frequency_id', '=', 'd.frequency'] }] },
      { table: 'concept', as: 'du', type: 'left', on: [{ cmp: ['du.concept_id', '=', 'd.duration_units'] }] },
      { table: 'orders', as: 'prev', type: 'left', on: [{ cmp: ['prev.order_id', '=', 'o.previous_order_id'] }] },
      ...(options.locations
        ? [{ table: 'location', as: 'l', type: 'left' as const, on: [{ cmp: ['l.location_id', '=', 'e.location_id'] } as Cond] }]
        : []),
    ],
    // FM2-532: DISCONTINUE orders are bookkeeping, not prescriptions.
    where: [notVoided('o'), notVoided('p'), { cmp: ['o.order_action', '<>', { lit: 'DISCONTINUE' }] }, ...atLocations('l')],
    key: 'o.order_id',
    id: 'o.uuid',
    // Orders are immutable in OpenMRS (a revision is a new order) except for being stopped.
    lastUpdated: { greatest: ['o.date_created', 'o.date_stopped'] },
    patient: 'p.uuid',
    select: {
      status: orderStatus, urgency: 'o.urgency', order_number: 'o.order_number', concept_id: 'o.concept_id', drug_name: 'dr.name',
      drug_strength: 'dr.strength', drug_non_coded: 'd.drug_non_coded', patient_uuid: 'p.uuid', encounter_uuid: 'e.uuid',
      orderer: 'o.orderer', date_created: 'o.date_created', date_activated: 'o.date_activated', auto_expire_date: 'o.auto_expire_date',
      instructions: 'o.instructions', comment_to_fulfiller: 'o.comment_to_fulfiller', order_reason: 'o.order_reason',
      order_reason_non_coded: 'o.order_reason_non_coded', dose: 'd.dose', dose_units: 'd.dose_units', route: 'd.route',
      frequency_concept: 'f.concept_id', as_needed: 'd.as_needed', as_needed_condition: 'd.as_needed_condition',
      dosing_instructions: 'd.dosing_instructions', quantity: 'd.quantity', quantity_units: 'd.quantity_units', num_refills: 'd.num_refills',
      duration: 'd.duration', duration_units_uuid: 'du.uuid', fulfiller_status: 'o.fulfiller_status', prev_uuid: 'prev.uuid',
      revises: { case: [{ when: [{ in: 'o.order_action', values: ['REVISE', 'DISCONTINUE'] }], then: '1' }] },
      renews: { case: [{ when: [{ cmp: ['o.order_action', '=', { lit: 'RENEW' }] }], then: '1' }] },
      dispense_as_written: 'd.dispense_as_written',
    },
    resource: {
      object: {
        extension: {
          array: [
            {
              object: { url: { const: 'http://fhir.openmrs.org/ext/medicationrequest/fulfillerstatus' }, valueCode: { field: 'fulfiller_status' } },
              requires: ['valueCode'],
            },
          ],
        },
        identifier: { array: [{ object: { use: { const: 'usual' }, system: { const: 'urn:openmrs:order-number' }, value: { field: 'order_number' } }, requires: ['value'] }] },
        status: { field: 'status', as: 'code' },
        intent: { const: 'order' },
        priority: { map: 'urgency', values: invert(PRIORITY) },
        medicationCodeableConcept: {
          object: {
            coding: { lookup: 'concept', key: 'concept_id', item: conceptCodings },
            text: { firstOf: [{ field: 'drug_name' }, { field: 'drug_non_coded' }, conceptText('concept_id')] },
          },
        },
        subject: { ref: 'Patient', field: 'patient_uuid' },
        encounter: { ref: 'Encounter', field: 'encounter_uuid' },
        authoredOn: { field: 'date_created', as: 'dateTime' },
        requester: practitioner('orderer'),
        reasonCode: {
          array: [{ firstOf: [concept('order_reason'), { object: { text: { field: 'order_reason_non_coded' } } }] }],
        },
        note: { array: [{ object: { text: { field: 'comment_to_fulfiller' } } }] },
        dosageInstruction: {
          array: [
            {
              object: {
                text: { field: 'dosing_instructions' },
                additionalInstruction: { array: [{ object: { text: { field: 'instructions' } } }] },
                timing: {
                  object: {
                    code: concept('frequency_concept'),
                    repeat: {
                      object: { duration: { field: 'duration', as: 'decimal' }, durationUnit: { map: 'duration_units_uuid', values: DURATION_UNITS } },
                      requires: ['duration'],
                    },
                  },
                },
                route: concept('route'),
                doseAndRate: {
                  array: [
                    {
                      object: {
                        doseQuantity: {
                          object: { value: { field: 'dose', as: 'decimal' }, unit: conceptText('dose_units') },
                          requires: ['value'],
                        },
                      },
                    },
                  ],
                },
              },
              choice: [
                {
                  asNeededCodeableConcept: { object: { text: { field: 'as_needed_condition' } } },
                  asNeededBoolean: { if: 'as_needed', then: { const: true }, else: { const: false } },
                },
              ],
            },
          ],
        },
        dispenseRequest: {
          object: {
            validityPeriod: { object: { start: { field: 'date_activated', as: 'dateTime' }, end: { field: 'auto_expire_date', as: 'dateTime' } } },
            numberOfRepeatsAllowed: { field: 'num_refills', as: 'integer' },
            quantity: { object: { value: { field: 'quantity', as: 'decimal' }, unit: conceptText('quantity_units') }, requires: ['value'] },
          },
        },
        substitution: { object: { allowedBoolean: { if: 'dispense_as_written', then: { const: false }, else: { const: true } } } },
        // FHIR2: the order a revision replaces is its prior prescription; the one a renewal renews, its basis.
        priorPrescription: { if: 'revises', then: { ref: 'MedicationRequest', field: 'prev_uuid' } },
        basedOn: { if: 'renews', then: { array: [{ ref: 'MedicationRequest', field: 'prev_uuid' }] } },
      },
    },
    search: {
      status: { kind: 'token', expr: orderStatus },
      code: { kind: 'coding', expr: 'o.concept_id', lookup: 'concept' },
      authoredon: { kind: 'date', expr: 'o.date_created', precision: 'second' },
      priority: { kind: 'token', expr: 'o.urgency', codes: PRIORITY },
      encounter: { kind: 'reference', expr: 'e.uuid', target: 'Encounter' },
    },
    searchInMemory: ['intent'],
    sort: { authoredon: { expr: 'o.date_created', kind: 'date' } },
  };

  const severityCodes: Record<string, JsonValue> = { [severity.mild]: 'mild', [severity.moderate]: 'moderate', [severity.severe]: 'severe' };
  // FHIR2 AllergyIntoleranceCriticalityTranslator: mild → low, moderate → unable-to-assess, severe → high.
  const criticality: Record<string, readonly string[]> = { low: [severity.mild], 'unable-to-assess': [severity.moderate], high: [severity.severe] };
  const allergy: ResourceMapping = {
    from: { table: 'allergy', as: 'a' },
    joins: [
      { table: 'person', as: 'p', type: 'inner', on: [{ cmp: ['p.person_id', '=', 'a.patient_id'] }] },
      { table: 'concept', as: 'sev', type: 'left', on: [{ cmp: ['sev.concept_id', '=', 'a.severity_concept_id'] }] },
    ],
    where: [notVoided('a'), notVoided('p')],
    key: 'a.allergy_id',
    id: 'a.uuid',
    lastUpdated: lastUpdated('a'),
    patient: 'p.uuid',
    select: {
      patient_uuid: 'p.uuid', allergen_type: 'a.allergen_type', coded_allergen: 'a.coded_allergen', non_coded_allergen: 'a.non_coded_allergen',
      severity_uuid: 'sev.uuid', comments: 'a.comments', date_created: 'a.date_created',
    },
    children: {
      reactions: {
        from: { table: 'allergy_reaction', as: 'r' },
        parentKey: 'r.allergy_id',
        orderBy: ['r.allergy_reaction_id'],
        select: { concept_id: 'r.reaction_concept_id', non_coded: 'r.reaction_non_coded' },
      },
    },
    resource: {
      object: {
        clinicalStatus: { const: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active', display: 'Active' }] } },
        verificationStatus: {
          const: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed', display: 'Confirmed' }] },
        },
        type: { const: 'allergy' },
        category: { array: [{ map: 'allergen_type', values: invert(ALLERGEN_CATEGORY) }] },
        criticality: { map: 'severity_uuid', values: invert(criticality) },
        code: {
          object: {
            coding: { lookup: 'concept', key: 'coded_allergen', item: conceptCodings },
            text: { firstOf: [{ field: 'non_coded_allergen' }, conceptText('coded_allergen')] },
          },
        },
        patient: { ref: 'Patient', field: 'patient_uuid' },
        recordedDate: { field: 'date_created', as: 'dateTime' },
        note: { array: [{ object: { text: { field: 'comments' } } }] },
        reaction: {
          array: [
            {
              object: {
                manifestation: {
                  each: 'reactions',
                  item: {
                    firstOf: [
                      {
                        lookup: 'concept',
                        key: 'concept_id',
                        item: { object: { coding: conceptCodings, text: conceptName } },
                      },
                    ],
                  },
                },
                severity: { map: 'severity_uuid', values: severityCodes },
              },
              requires: ['manifestation'],
            },
          ],
        },
      },
    },
    search: {
      code: { kind: 'coding', expr: 'a.coded_allergen', lookup: 'concept' },
      category: { kind: 'token', expr: 'a.allergen_type', codes: ALLERGEN_CATEGORY },
      criticality: { kind: 'token', expr: 'sev.uuid', codes: criticality },
      date: { kind: 'date', expr: 'a.date_created', precision: 'second' },
    },
    searchInMemory: ['clinical-status', 'verification-status', 'type'],
    sort: { date: { expr: 'a.date_created', kind: 'date' } },
  };

  return {
    name: 'openmrs-2.x',
    resources: {
      Patient: patient,
      Encounter: encounter,
      Observation: observation,
      MedicationRequest: medicationRequest,
      AllergyIntolerance: allergy,
    },
    lookups: {
      provider: {
        from: { table: 'provider', as: 'pr' },
        key: 'pr.provider_id',
        select: { name: 'pr.name', identifier: 'pr.identifier' },
        children: {
          // The provider's person's names, preferred first (Person.getPersonName()).
          names: {
            from: { table: 'person_name', as: 'n' },
            joins: [{ table: 'provider', as: 'pp', type: 'inner', on: [{ cmp: ['pp.person_id', '=', 'n.person_id'] }] }],
            where: [notVoided('n')],
            parentKey: 'pp.provider_id',
            orderBy: [flagFirst('n.preferred'), 'n.person_name_id'],
            select: {
              prefix: 'n.prefix', given_name: 'n.given_name', middle_name: 'n.middle_name', family_name_prefix: 'n.family_name_prefix',
              family_name: 'n.family_name', family_name2: 'n.family_name2', family_name_suffix: 'n.family_name_suffix', degree: 'n.degree',
            },
          },
        },
      },
      concept: {
        from: { table: 'concept', as: 'c' },
        key: 'c.concept_id',
        select: { uuid: 'c.uuid' },
        children: {
          names: {
            from: { table: 'concept_name', as: 'n' },
            where: [notVoided('n'), { cmp: ['n.locale', '=', { lit: locale }] }],
            parentKey: 'n.concept_id',
            orderBy: [
              flagFirst('n.locale_preferred'),
              { case: [{ when: [{ cmp: ['n.concept_name_type', '=', { lit: 'FULLY_SPECIFIED' }] }], then: '0' }], else: '1' },
              'n.concept_name_id',
            ],
            select: { name: 'n.name' },
          },
          codings: {
            from: { table: 'concept_reference_map', as: 'm' },
            joins: conceptMapJoins,
            where: conceptMapWhere,
            parentKey: 'm.concept_id',
            orderBy: ['s.name', 't.code'],
            select: { source: 's.name', code: 't.code', term_name: 't.name' },
          },
        },
        codingIndex: [
          { from: { table: 'concept_reference_map', as: 'm' }, joins: conceptMapJoins, where: conceptMapWhere, key: 'm.concept_id', code: 't.code', system: { expr: 's.name', systems } },
          { from: { table: 'concept', as: 'c' }, key: 'c.concept_id', code: 'c.uuid' },
        ],
      },
    },
  };
}

/**
 * A provider as FHIR2 references it: the display is the full name of the provider's person
 * (PersonName.getFullName()), else `provider.name` (often NULL on real OpenMRS), and the identifier.
 */
function practitioner(key: string): Template {
  const fullName: Template = {
    join: ['prefix', 'given_name', 'middle_name', 'family_name_prefix', 'family_name', 'family_name2', 'family_name_suffix', 'degree'].map((field) => ({ field })),
  };
  return {
    lookup: 'provider',
    key,
    item: {
      object: {
        display: { firstOf: [{ first: 'names', item: fullName }, { field: 'name' }] },
        identifier: { object: { value: { field: 'identifier' } } },
      },
      requires: ['display'],
    },
  };
}

const conceptMapJoins: readonly Join[] = [
  { table: 'concept_reference_term', as: 't', type: 'inner', on: [{ cmp: ['t.concept_reference_term_id', '=', 'm.concept_reference_term_id'] }] },
  { table: 'concept_reference_source', as: 's', type: 'inner', on: [{ cmp: ['s.concept_source_id', '=', 't.concept_source_id'] }] },
  { table: 'concept_map_type', as: 'mt', type: 'inner', on: [{ cmp: ['mt.concept_map_type_id', '=', 'm.concept_map_type_id'] }] },
];
const conceptMapWhere: readonly Cond[] = [{ cmp: ['mt.name', '=', { lit: 'SAME-AS' }] }, { cmp: ['t.retired', '=', { lit: false }] }];

function range(low: string, high: string, type: JsonValue): Template {
  return {
    object: {
      low: { object: { value: { field: low, as: 'decimal' }, unit: { field: 'units' } }, requires: ['value'] },
      high: { object: { value: { field: high, as: 'decimal' }, unit: { field: 'units' } }, requires: ['value'] },
      type: { const: type },
    },
    requiresAny: ['low', 'high'],
  };
}
