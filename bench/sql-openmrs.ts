/**
 * SQL adapter overhead on an OpenMRS database: typical patient-scoped FHIR searches through
 * the adapter (parse → pushdown SQL via Kysely → FHIR JSON) against the equivalent hand-written
 * SQL run directly on the same driver (pg / mysql2) over the same data, interleaved so drift
 * hits both alike. Prints median and p95 latency per search and the ratio adapter / direct
 * (aim ≤ 1.5), for a growing database: 10,000 patients with 10k, 100k and 1M observations,
 * generated at bench time with bulk inserts into a private database that is dropped after.
 *
 * The direct baseline issues the same round trips a hand-written service would need for the
 * same FHIR content (resource rows, then members of the groups among them; a patient's names,
 * identifiers and addresses); the adapter's concept dictionary cache is warm, as it is in
 * steady state.
 *
 * Run: `node bench/sql-openmrs.ts [--dialect postgres|mariadb] [--quick]`.
 */
import { randomBytes } from 'node:crypto';
import { parseSearchRequest } from '@medplum/core';
import { sql } from 'kysely';
import { createPool as createMysqlPool, type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';
import { openmrsMapping } from '../adapters/sql/openmrs/openmrs-profile.ts';
import { seedOpenmrs, seedUuid } from '../adapters/sql/openmrs/openmrs-seed.ts';
import { SqlAdapter } from '../adapters/sql/sql-adapter.ts';
import { openSqlConnection, type SqlConnectionOptions } from '../adapters/sql/sql-connection.ts';

const quick = process.argv.includes('--quick');
const dialectArg = process.argv[process.argv.indexOf('--dialect') + 1];
const dialect: 'postgres' | 'mariadb' = process.argv.includes('--dialect') && dialectArg === 'mariadb' ? 'mariadb' : 'postgres';
const PATIENTS = quick ? 1000 : 10_000;
const OBS_PER_PATIENT = quick ? [1, 10] : [1, 10, 100];
const ITERATIONS = quick ? 60 : 150;
const WARMUP = 20;

const server: SqlConnectionOptions =
  dialect === 'postgres'
    ? { dialect, host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' }
    : { dialect, host: '127.0.0.1', port: 3306, user: 'root' };

interface Scenario {
  readonly name: string;
  /** FHIR search, `{patient}` replaced by the patient's uuid (given as `patients`, as the planner does). */
  readonly fhir: string;
  /** Hand-written SQL ($1 = patient uuid), returning the page's rows. */
  readonly direct: string;
  readonly count: number;
  /** Whether rows are observations (then group members are fetched as the adapter does). */
  readonly members: boolean;
}

const OBS_COLUMNS = `o.obs_id, o.uuid, o.concept_id, c.is_set, o.obs_datetime, o.date_created, o.status, o.interpretation, o.comments,
  o.value_numeric, o.value_text, o.value_datetime, o.value_coded, p.uuid as patient_uuid, e.uuid as encounter_uuid, cc.name as class_name,
  case when dt.name = 'Boolean' and (vc.uuid = '1065AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' or o.value_numeric = 1) then 'true'
       when dt.name = 'Boolean' and (vc.uuid = '1066AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' or o.value_numeric = 0) then 'false' end as value_boolean,
  cn.units, cn.low_normal, cn.hi_normal, cn.low_critical, cn.hi_critical, cn.low_absolute, cn.hi_absolute`;
const OBS_FROM = `obs o join person p on p.person_id = o.person_id join concept c on c.concept_id = o.concept_id
  join concept_class cc on cc.concept_class_id = c.class_id join concept_datatype dt on dt.concept_datatype_id = c.datatype_id
  left join concept_numeric cn on cn.concept_id = o.concept_id left join concept vc on vc.concept_id = o.value_coded
  left join encounter e on e.encounter_id = o.encounter_id`;
const FALSE = dialect === 'postgres' ? 'false' : '0';

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'Observation?patient&_sort=-date&_count=20',
    fhir: 'Observation?_sort=-date&_count=20',
    direct: `select ${OBS_COLUMNS} from ${OBS_FROM} where o.voided = ${FALSE} and p.uuid = $1 order by o.obs_datetime desc, o.obs_id limit 21`,
    count: 20,
    members: true,
  },
  {
    name: 'Observation?patient&code=loinc|8480-6',
    fhir: 'Observation?code=http://loinc.org|8480-6&_count=50',
    direct: `select ${OBS_COLUMNS} from ${OBS_FROM} where o.voided = ${FALSE} and p.uuid = $1 and o.concept_id in (
      select m.concept_id from concept_reference_map m join concept_reference_term t on t.concept_reference_term_id = m.concept_reference_term_id
      join concept_reference_source s on s.concept_source_id = t.concept_source_id join concept_map_type mt on mt.concept_map_type_id = m.concept_map_type_id
      where mt.name = 'SAME-AS' and t.retired = ${FALSE} and s.name = 'LOINC' and t.code = '8480-6') order by o.obs_id limit 51`,
    count: 50,
    members: true,
  },
  {
    name: 'Observation?patient&date=ge2022&date=lt2023',
    fhir: 'Observation?date=ge2022-01-01&date=lt2023-01-01&_count=50',
    direct: `select ${OBS_COLUMNS} from ${OBS_FROM} where o.voided = ${FALSE} and p.uuid = $1 and o.obs_datetime >= '2022-01-01 00:00:00'
      and o.obs_datetime < '2023-01-01 00:00:00' order by o.obs_id limit 51`,
    count: 50,
    members: true,
  },
  {
    name: 'Observation?patient&category=laboratory',
    fhir: 'Observation?category=laboratory&_count=50',
    direct: `select ${OBS_COLUMNS} from ${OBS_FROM} where o.voided = ${FALSE} and p.uuid = $1 and cc.name in ('Test', 'LabSet') order by o.obs_id limit 51`,
    count: 50,
    members: true,
  },
  {
    name: 'Patient?_id (with names, identifiers, addresses)',
    fhir: 'Patient?_count=1',
    direct: `select p.person_id, p.uuid, p.gender, p.birthdate, p.dead, p.death_date, coalesce(p.date_changed, p.date_created) as updated
      from person p join patient pt on pt.patient_id = p.person_id where p.voided = ${FALSE} and pt.voided = ${FALSE} and p.uuid = $1 limit 2`,
    count: 1,
    members: false,
  },
];

/** Runs hand-written SQL on the raw driver. */
interface Direct {
  query(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function directClient(database: string): Direct {
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ ...server, database, max: 2, options: '-c default_transaction_read_only=on' });
    return {
      async query(text, params) {
        return (await pool.query(text, [...params])).rows as Record<string, unknown>[];
      },
      close: () => pool.end(),
    };
  }
  const pool: MysqlPool = createMysqlPool({ host: server.host, port: server.port, user: server.user, database, connectionLimit: 2, dateStrings: true });
  return {
    async query(text, params) {
      const [rows] = await pool.query<RowDataPacket[]>(text.replace(/\$\d+/g, '?'), [...params]);
      return rows as Record<string, unknown>[];
    },
    close: () => pool.end(),
  };
}

async function runDirect(direct: Direct, s: Scenario, patient: string): Promise<number> {
  const rows = await direct.query(s.direct, [patient]);
  const page = rows.slice(0, s.count);
  if (s.name.startsWith('Patient') && page.length > 0) {
    // The Patient's names, identifiers (with type and location) and addresses.
    const id = [Number(page[0]?.person_id)];
    await direct.query(`select n.uuid, n.preferred, n.prefix, n.given_name, n.middle_name, n.family_name, n.family_name_suffix, n.degree, n.person_id from person_name n where n.voided = ${FALSE} and n.person_id in ($1) order by n.person_id, case when n.preferred = ${FALSE === '0' ? '1' : 'true'} then '0' else '1' end, n.person_name_id`, id);
    await direct.query(`select i.uuid, i.identifier, i.preferred, it.uuid as type_uuid, it.name as type_name, l.name as location_name, i.patient_id from patient_identifier i join patient_identifier_type it on it.patient_identifier_type_id = i.identifier_type left join location l on l.location_id = i.location_id where i.voided = ${FALSE} and i.patient_id in ($1) order by i.patient_id, i.patient_identifier_id`, id);
    await direct.query(`select a.uuid, a.preferred, a.address1, a.address2, a.city_village, a.county_district, a.state_province, a.postal_code, a.country, a.start_date, a.end_date, a.person_id from person_address a where a.voided = ${FALSE} and a.person_id in ($1) order by a.person_id, a.person_address_id`, id);
  }
  const groups = s.members ? page.filter((r) => r.is_set === true || Number(r.is_set) === 1) : [];
  if (groups.length > 0) {
    // Only obs of set concepts are groups with members.
    const ids = groups.map((r) => Number(r.obs_id));
    const placeholders = ids.map((_, i) => `$${i + 1}`).join(', ');
    await direct.query(`select m.uuid, m.obs_group_id from obs m where m.voided = ${FALSE} and m.obs_group_id in (${placeholders}) order by m.obs_group_id, m.obs_id`, ids);
  }
  return page.length;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function withDatabase<T>(obsPerPatient: number, work: (database: string) => Promise<T>): Promise<T> {
  const name = `medrec_sqlbench_${randomBytes(4).toString('hex')}`;
  const admin = openSqlConnection({ ...server, readOnly: false, poolSize: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  await admin.close();
  try {
    const writer = openSqlConnection({ ...server, database: name, readOnly: false, poolSize: 1, statementTimeoutMs: 600_000 });
    const t0 = performance.now();
    const seeded = await seedOpenmrs(writer.db, dialect, { patients: PATIENTS, obsPerPatient, encountersPerPatient: 5, ordersPerPatient: 1, seed: 3 });
    // Planner statistics, as any maintained production database has them.
    if (dialect === 'postgres') await sql`analyze`.execute(writer.db);
    else for (const table of ['obs', 'person', 'patient', 'encounter', 'concept', 'concept_reference_map', 'concept_reference_term']) await sql`analyze table ${sql.table(table)}`.execute(writer.db);
    await writer.close();
    console.log(`# seeded ${seeded.patients} persons, ${seeded.observations} obs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return await work(name);
  } finally {
    const a = openSqlConnection({ ...server, readOnly: false, poolSize: 1 });
    if (dialect === 'postgres') await sql`drop database if exists ${sql.id(name)} with (force)`.execute(a.db);
    else await sql`drop database if exists ${sql.id(name)}`.execute(a.db);
    await a.close();
  }
}

interface Row {
  readonly size: number;
  readonly scenario: string;
  readonly adapterMedian: number;
  readonly adapterP95: number;
  readonly directMedian: number;
  readonly directP95: number;
}

async function measure(obsPerPatient: number): Promise<Row[]> {
  return withDatabase(obsPerPatient, async (database) => {
    const connection = openSqlConnection({ ...server, database, poolSize: 2 });
    const adapter = await SqlAdapter.open({ sourceId: 'bench', connection, mapping: openmrsMapping() });
    const direct = directClient(database);
    const rows: Row[] = [];
    try {
      const patients = Array.from({ length: 50 }, (_, i) => seedUuid('person', 1 + ((i * 197) % PATIENTS)));
      for (const s of SCENARIOS) {
        const request = parseSearchRequest(s.fhir);
        const viaAdapter = async (patient: string): Promise<number> => {
          const filters = s.name.startsWith('Patient?_id') ? [{ code: '_id', operator: 'eq' as never, value: patient }] : (request.filters ?? []);
          const page = await adapter.search(
            { resourceType: request.resourceType, filters, sort: request.sortRules, count: s.count, patients: s.name.startsWith('Patient') ? undefined : [patient] },
            AbortSignal.timeout(30_000),
          );
          return page.resources.length;
        };
        const a: number[] = [];
        const d: number[] = [];
        for (let i = 0; i < WARMUP + ITERATIONS; i++) {
          const patient = patients[i % patients.length] as string;
          // Alternate which goes first so neither always meets a cold buffer.
          const order = i % 2 === 0 ? ['a', 'd'] : ['d', 'a'];
          let counts: number[] = [];
          for (const which of order) {
            const t0 = performance.now();
            const n = which === 'a' ? await viaAdapter(patient) : await runDirect(direct, s, patient);
            const ms = performance.now() - t0;
            counts.push(n);
            if (i >= WARMUP) (which === 'a' ? a : d).push(ms);
          }
          if (counts[0] !== counts[1]) throw new Error(`${s.name}: adapter and direct SQL disagree (${counts.join(' vs ')})`);
          counts = [];
        }
        rows.push({ size: PATIENTS * obsPerPatient, scenario: s.name, adapterMedian: quantile(a, 0.5), adapterP95: quantile(a, 0.95), directMedian: quantile(d, 0.5), directP95: quantile(d, 0.95) });
      }
    } finally {
      await adapter.close();
      await direct.close();
    }
    return rows;
  });
}

loadFhirDefinitions();
console.log(`# SQL adapter (OpenMRS profile) vs hand-written SQL on ${dialect}, ${PATIENTS} patients, ${ITERATIONS} searches per cell`);
const all: Row[] = [];
for (const perPatient of OBS_PER_PATIENT) {
  const rows = await measure(perPatient);
  all.push(...rows);
  console.log(`\n## ${(PATIENTS * perPatient).toLocaleString('en')} observations`);
  console.log('search'.padEnd(46), 'adapter p50/p95 ms'.padStart(20), 'direct p50/p95 ms'.padStart(20), 'ratio p50'.padStart(10));
  for (const r of rows) {
    console.log(
      r.scenario.padEnd(46),
      `${r.adapterMedian.toFixed(2)} / ${r.adapterP95.toFixed(2)}`.padStart(20),
      `${r.directMedian.toFixed(2)} / ${r.directP95.toFixed(2)}`.padStart(20),
      (r.adapterMedian / r.directMedian).toFixed(2).padStart(10),
    );
  }
}
const largest = Math.max(...all.map((r) => r.size));
const ratios = all.filter((r) => r.size === largest).map((r) => r.adapterMedian / r.directMedian);
const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
console.log(`\nratio adapter/direct at ${largest.toLocaleString('en')} obs: geometric mean ${geo.toFixed(2)}, worst ${Math.max(...ratios).toFixed(2)} (aim ≤ 1.5)`);
const growth = SCENARIOS.map((s) => {
  const cells = all.filter((r) => r.scenario === s.name);
  return `${s.name}: ${cells.map((c) => c.adapterMedian.toFixed(2)).join(' → ')} ms`;
});
console.log(`adapter p50 as observations grow (${OBS_PER_PATIENT.map((n) => (PATIENTS * n).toLocaleString('en')).join(' → ')}):\n  ${growth.join('\n  ')}`);
