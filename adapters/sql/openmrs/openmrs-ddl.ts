/**
 * Project-owned DDL for the OpenMRS 2.x tables the profile reads, with OpenMRS's own column
 * names and types (from openmrs-core's liquibase schema snapshot), for MariaDB/MySQL,
 * PostgreSQL and SQLite. Used by tests, the bench and the embedded demo; a real OpenMRS
 * database already has these tables. Foreign keys are left out so bulk seeding can load tables
 * in any order; the indexes OpenMRS has on the searched columns are kept.
 */
import { sql, type Kysely } from 'kysely';
import type { DynamicDatabase, SqlDialectName } from '../sql-connection.ts';

type ColumnType = 'id' | 'int' | 'bool' | 'double' | 'date' | 'datetime' | 'text' | `varchar(${number})` | `char(${number})`;

interface TableSpec {
  readonly name: string;
  /** Column → type; `!` suffix: NOT NULL. The `id` column is the primary key. */
  readonly columns: Readonly<Record<string, ColumnType | `${ColumnType}!`>>;
  readonly primaryKey?: string;
  readonly indexes?: readonly (readonly string[])[];
  readonly unique?: readonly (readonly string[])[];
}

const audit = {
  creator: 'int!',
  date_created: 'datetime!',
} as const;
const changed = { changed_by: 'int', date_changed: 'datetime' } as const;
const voided = { voided: 'bool!', voided_by: 'int', date_voided: 'datetime', void_reason: 'varchar(255)' } as const;
const retired = { retired: 'bool!', retired_by: 'int', date_retired: 'datetime', retire_reason: 'varchar(255)' } as const;
const uuid = { uuid: 'char(38)!' } as const;

export const OPENMRS_TABLES: readonly TableSpec[] = [
  {
    name: 'person',
    columns: {
      person_id: 'id', gender: 'varchar(50)', birthdate: 'date', birthdate_estimated: 'bool!', dead: 'bool!',
      death_date: 'datetime', deathdate_estimated: 'bool!', cause_of_death: 'int', birthtime: 'datetime',
      ...audit, ...changed, ...voided, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'patient',
    columns: { patient_id: 'int!', ...audit, ...changed, ...voided, allergy_status: 'varchar(50)!' },
    primaryKey: 'patient_id',
  },
  {
    name: 'person_name',
    columns: {
      person_name_id: 'id', preferred: 'bool!', person_id: 'int!', prefix: 'varchar(50)', given_name: 'varchar(50)',
      middle_name: 'varchar(50)', family_name_prefix: 'varchar(50)', family_name: 'varchar(50)', family_name2: 'varchar(50)',
      family_name_suffix: 'varchar(50)', degree: 'varchar(50)', ...audit, ...voided, ...changed, ...uuid,
    },
    indexes: [['person_id']],
    unique: [['uuid']],
  },
  {
    name: 'person_address',
    columns: {
      person_address_id: 'id', person_id: 'int', preferred: 'bool!', address1: 'varchar(255)', address2: 'varchar(255)',
      city_village: 'varchar(255)', state_province: 'varchar(255)', postal_code: 'varchar(50)', country: 'varchar(50)',
      county_district: 'varchar(255)', start_date: 'datetime', end_date: 'datetime', ...audit, ...voided, ...changed, ...uuid,
    },
    indexes: [['person_id']],
    unique: [['uuid']],
  },
  {
    name: 'patient_identifier_type',
    columns: {
      patient_identifier_type_id: 'id', name: 'varchar(50)!', description: 'text', format: 'varchar(255)', check_digit: 'bool!',
      required: 'bool!', ...audit, ...retired, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'patient_identifier',
    columns: {
      patient_identifier_id: 'id', patient_id: 'int!', identifier: 'varchar(50)!', identifier_type: 'int!', preferred: 'bool!',
      location_id: 'int', ...audit, ...changed, ...voided, ...uuid,
    },
    indexes: [['patient_id'], ['identifier']],
    unique: [['uuid']],
  },
  {
    name: 'location',
    columns: {
      location_id: 'id', name: 'varchar(255)!', description: 'varchar(255)', address1: 'varchar(255)', city_village: 'varchar(255)',
      state_province: 'varchar(255)', postal_code: 'varchar(50)', country: 'varchar(50)', parent_location: 'int', ...audit, ...retired, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'encounter_type',
    columns: { encounter_type_id: 'id', name: 'varchar(50)!', description: 'text', ...audit, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'visit_type',
    columns: { visit_type_id: 'id', name: 'varchar(255)!', description: 'varchar(1024)', ...audit, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'visit',
    columns: {
      visit_id: 'id', patient_id: 'int!', visit_type_id: 'int!', date_started: 'datetime!', date_stopped: 'datetime',
      indication_concept_id: 'int', location_id: 'int', ...audit, ...changed, ...voided, ...uuid,
    },
    indexes: [['patient_id']],
    unique: [['uuid']],
  },
  {
    name: 'encounter',
    columns: {
      encounter_id: 'id', encounter_type: 'int!', patient_id: 'int!', location_id: 'int', form_id: 'int',
      encounter_datetime: 'datetime!', ...audit, ...voided, ...changed, visit_id: 'int', ...uuid,
    },
    indexes: [['patient_id'], ['encounter_datetime'], ['visit_id']],
    unique: [['uuid']],
  },
  {
    name: 'provider',
    columns: { provider_id: 'id', person_id: 'int', name: 'varchar(255)', identifier: 'varchar(255)', ...audit, ...changed, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'encounter_role',
    columns: { encounter_role_id: 'id', name: 'varchar(255)!', description: 'varchar(1024)', ...audit, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'encounter_provider',
    columns: {
      encounter_provider_id: 'id', encounter_id: 'int!', provider_id: 'int!', encounter_role_id: 'int!', ...audit, ...changed, ...voided, ...uuid,
    },
    indexes: [['encounter_id']],
    unique: [['uuid']],
  },
  {
    name: 'concept_datatype',
    columns: { concept_datatype_id: 'id', name: 'varchar(255)!', hl7_abbreviation: 'varchar(3)', description: 'varchar(255)', ...audit, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'concept_class',
    columns: { concept_class_id: 'id', name: 'varchar(255)!', description: 'varchar(255)', ...audit, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'concept',
    columns: {
      concept_id: 'id', retired: 'bool!', short_name: 'varchar(255)', description: 'text', form_text: 'text', datatype_id: 'int!',
      class_id: 'int!', is_set: 'bool!', ...audit, version: 'varchar(50)', ...changed, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'concept_name',
    columns: {
      concept_name_id: 'id', concept_id: 'int', name: 'varchar(255)!', locale: 'varchar(50)!', locale_preferred: 'bool!',
      concept_name_type: 'varchar(50)', ...audit, ...voided, ...uuid,
    },
    indexes: [['concept_id']],
    unique: [['uuid']],
  },
  {
    name: 'concept_numeric',
    columns: {
      concept_id: 'int!', hi_absolute: 'double', hi_critical: 'double', hi_normal: 'double', low_absolute: 'double',
      low_critical: 'double', low_normal: 'double', units: 'varchar(50)', allow_decimal: 'bool', display_precision: 'int',
    },
    primaryKey: 'concept_id',
  },
  {
    name: 'concept_reference_source',
    columns: {
      concept_source_id: 'id', name: 'varchar(50)!', description: 'text', hl7_code: 'varchar(50)', unique_id: 'varchar(250)',
      ...audit, ...retired, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'concept_reference_term',
    columns: {
      concept_reference_term_id: 'id', concept_source_id: 'int!', name: 'varchar(255)', code: 'varchar(255)!', version: 'varchar(255)',
      description: 'varchar(255)', ...audit, ...changed, ...retired, ...uuid,
    },
    indexes: [['code']],
    unique: [['uuid']],
  },
  {
    name: 'concept_map_type',
    columns: { concept_map_type_id: 'id', name: 'varchar(255)!', description: 'varchar(255)', is_hidden: 'bool!', ...audit, ...changed, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'concept_reference_map',
    columns: {
      concept_map_id: 'id', concept_reference_term_id: 'int!', concept_map_type_id: 'int!', concept_id: 'int!', ...audit, ...changed, ...uuid,
    },
    indexes: [['concept_id'], ['concept_reference_term_id']],
    unique: [['uuid']],
  },
  {
    name: 'obs',
    columns: {
      obs_id: 'id', person_id: 'int!', concept_id: 'int!', encounter_id: 'int', order_id: 'int', obs_datetime: 'datetime!',
      location_id: 'int', obs_group_id: 'int', accession_number: 'varchar(255)', value_group_id: 'int', value_coded: 'int',
      value_coded_name_id: 'int', value_drug: 'int', value_datetime: 'datetime', value_numeric: 'double', value_modifier: 'varchar(2)',
      value_text: 'text', value_complex: 'varchar(1000)', comments: 'varchar(255)', ...audit, ...voided, previous_version: 'int',
      form_namespace_and_path: 'varchar(255)', status: 'varchar(16)!', interpretation: 'varchar(32)', ...uuid,
    },
    indexes: [['person_id', 'obs_datetime'], ['concept_id'], ['encounter_id'], ['obs_group_id'], ['obs_datetime']],
    unique: [['uuid']],
  },
  {
    name: 'order_frequency',
    columns: { order_frequency_id: 'id', concept_id: 'int!', frequency_per_day: 'double', ...audit, ...changed, ...retired, ...uuid },
    unique: [['uuid']],
  },
  {
    name: 'drug',
    columns: {
      drug_id: 'id', concept_id: 'int!', name: 'varchar(255)', combination: 'bool!', dosage_form: 'int', maximum_daily_dose: 'double',
      minimum_daily_dose: 'double', route: 'int', strength: 'varchar(255)', ...audit, ...changed, ...retired, ...uuid,
    },
    unique: [['uuid']],
  },
  {
    name: 'orders',
    columns: {
      order_id: 'id', order_type_id: 'int!', concept_id: 'int!', orderer: 'int!', instructions: 'text', date_activated: 'datetime',
      auto_expire_date: 'datetime', date_stopped: 'datetime', order_reason: 'int', order_reason_non_coded: 'varchar(255)',
      ...audit, ...voided, patient_id: 'int!', accession_number: 'varchar(255)', urgency: 'varchar(50)!', order_number: 'varchar(50)!',
      previous_order_id: 'int', order_action: 'varchar(50)!', comment_to_fulfiller: 'varchar(1024)', care_setting: 'int!',
      scheduled_date: 'datetime', order_group_id: 'int', sort_weight: 'double', fulfiller_comment: 'varchar(1024)',
      fulfiller_status: 'varchar(50)', encounter_id: 'int!', ...uuid,
    },
    indexes: [['patient_id'], ['date_activated']],
    unique: [['uuid']],
  },
  {
    name: 'drug_order',
    columns: {
      order_id: 'int!', drug_inventory_id: 'int', dose: 'double', as_needed: 'bool', dosing_type: 'varchar(255)', quantity: 'double',
      as_needed_condition: 'varchar(255)', num_refills: 'int', dosing_instructions: 'text', duration: 'int', duration_units: 'int',
      quantity_units: 'int', route: 'int', dose_units: 'int', frequency: 'int', brand_name: 'varchar(255)', dispense_as_written: 'bool!',
      drug_non_coded: 'varchar(255)',
    },
    primaryKey: 'order_id',
  },
  {
    name: 'allergy',
    columns: {
      allergy_id: 'id', patient_id: 'int!', severity_concept_id: 'int', coded_allergen: 'int!', non_coded_allergen: 'varchar(255)',
      allergen_type: 'varchar(50)!', comments: 'varchar(1024)', ...audit, ...changed, ...voided, ...uuid,
      form_namespace_and_path: 'varchar(255)', encounter_id: 'int',
    },
    indexes: [['patient_id']],
    unique: [['uuid']],
  },
  {
    name: 'allergy_reaction',
    columns: { allergy_reaction_id: 'id', allergy_id: 'int!', reaction_concept_id: 'int!', reaction_non_coded: 'varchar(255)', ...uuid },
    indexes: [['allergy_id']],
    unique: [['uuid']],
  },
];

function sqlType(type: ColumnType, dialect: SqlDialectName): string {
  const server = dialect !== 'sqlite';
  switch (type) {
    case 'id':
      return dialect === 'postgres' ? 'serial' : dialect === 'sqlite' ? 'integer' : 'int';
    case 'int':
      return 'integer';
    case 'bool':
      return dialect === 'postgres' ? 'boolean' : dialect === 'sqlite' ? 'integer' : 'tinyint(1)';
    case 'double':
      return dialect === 'postgres' ? 'double precision' : dialect === 'sqlite' ? 'real' : 'double';
    case 'date':
      return server ? 'date' : 'text';
    case 'datetime':
      return dialect === 'postgres' ? 'timestamp' : dialect === 'sqlite' ? 'text' : 'datetime';
    case 'text':
      return 'text';
    default:
      return server ? type : 'text';
  }
}

/** Creates the OpenMRS tables the profile reads, with their indexes, on a writable connection. */
export async function createOpenmrsSchema(db: Kysely<DynamicDatabase>, dialect: SqlDialectName): Promise<void> {
  for (const table of OPENMRS_TABLES) {
    let create = db.schema.createTable(table.name);
    for (const [column, spec] of Object.entries(table.columns)) {
      const notNull = spec.endsWith('!');
      const type = (notNull ? spec.slice(0, -1) : spec) as ColumnType;
      create = create.addColumn(column, sql.raw(sqlType(type, dialect)), (col) => {
        let c = col;
        if (type === 'id') {
          c = c.primaryKey();
          if (dialect === 'mariadb' || dialect === 'mysql') c = c.autoIncrement();
        } else if (table.primaryKey === column) {
          c = c.primaryKey();
        }
        if (notNull && type !== 'id') c = c.notNull();
        if (type === 'bool' && notNull) c = c.defaultTo(dialect === 'postgres' ? sql`false` : sql`0`);
        return c;
      });
    }
    await create.execute();
    for (const cols of table.unique ?? []) {
      await db.schema.createIndex(`${table.name}_${cols.join('_')}_uq`).on(table.name).columns([...cols]).unique().execute();
    }
    for (const cols of table.indexes ?? []) {
      await db.schema.createIndex(`${table.name}_${cols.join('_')}_idx`).on(table.name).columns([...cols]).execute();
    }
  }
}
