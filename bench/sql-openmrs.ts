/**
 * SQL adapter overhead on an OpenMRS database: typical patient-scoped FHIR searches through
 * the adapter (parse → pushdown SQL via Kysely → FHIR JSON) against the equivalent hand-written
 * SQL run directly on the same driver (pg / mysql2) over the same data. Each iteration runs both,
 * in alternating order, and the statistic is the median of the per-iteration ratios
 * adapter / direct (paired, so load drift on a shared machine hits both sides of a ratio alike;
 * aim ≤ 1.5), with the p50 and p95 latencies of each side; every scenario starts both sides on
 * fresh connections. The database grows: 10,000 patients with 10k, 100k and 1M observations,
 * generated at bench time with bulk inserts into a private database that is dropped after.
 *
 * The direct baseline issues the same round trips a hand-written service would need for the
 * same FHIR content (resource rows, then members of the groups among them; a patient's names,
 * identifiers and addresses, side by side); the adapter's dictionary caches (concepts,
 * providers) are warm, as they are in steady state.
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
const TRUE = dialect === 'postgres' ? 'true' : '1';
const OBS_WHERE = `o.voided = ${FALSE} and p.voided = ${FALSE} and p.uuid = $1`;
const PAGE_ONE = `select ${OBS_COLUMNS} from ${OBS_FROM} where ${OBS_WHERE} order by o.obs_datetime desc, o.obs_id limit 21`;

/** A drug order with what the MedicationRequest needs, FHIR2's status computed against "now" ($2). */
const ORDER_SQL = `select o.order_id, o.uuid, o.urgency, o.order_number, o.concept_id, dr.name as drug_name, dr.strength, d.drug_non_coded,
  p.uuid as patient_uuid, e.uuid as encounter_uuid, o.orderer, pr.name as provider_name, pr.identifier as provider_identifier,
  o.date_activated, o.auto_expire_date, o.instructions, o.comment_to_fulfiller, o.order_reason, o.order_reason_non_coded, d.dose, d.dose_units,
  d.route, f.concept_id as frequency_concept, d.as_needed, d.as_needed_condition, d.dosing_instructions, d.quantity, d.quantity_units,
  d.num_refills, d.duration, du.uuid as duration_units_uuid, o.fulfiller_status, prev.uuid as prev_uuid, d.dispense_as_written, o.date_created,
  case when o.date_stopped is null or o.date_created >= o.date_stopped then o.date_created else o.date_stopped end as last_updated,
  case when o.fulfiller_status = 'COMPLETED' then 'completed'
       when o.date_activated is not null and o.date_activated <= $2 and (o.date_stopped is null or o.date_stopped >= $2)
            and (o.auto_expire_date is null or o.auto_expire_date >= $2) then 'active'
       when o.date_stopped is not null and o.date_stopped < $2 then 'cancelled'
       when o.auto_expire_date is not null and o.auto_expire_date < $2 then 'stopped' else 'unknown' end as status
  from orders o join drug_order d on d.order_id = o.order_id join person p on p.person_id = o.patient_id
  left join encounter e on e.encounter_id = o.encounter_id left join drug dr on dr.drug_id = d.drug_inventory_id
  left join provider pr on pr.provider_id = o.orderer left join order_frequency f on f.order_frequency_id = d.frequency
  left join concept du on du.concept_id = d.duration_units left join orders prev on prev.order_id = o.previous_order_id
  where o.voided = ${FALSE} and p.voided = ${FALSE} and o.order_action <> 'DISCONTINUE' and p.uuid = $1 order by o.order_id limit 51`;

/** Per-patient state a scenario prepares once (page tokens and the keyset values matching them). */
interface Prepared {
  readonly token?: string;
  readonly after?: readonly unknown[];
}

interface Scenario {
  readonly name: string;
  /** FHIR search the adapter runs for the patient (given as `patients`, as the planner does). */
  readonly fhir: string;
  readonly count: number;
  /** The hand-written SQL and its parameters for the patient; the page's rows come back. */
  readonly direct: (patient: string, prepared: Prepared) => readonly [string, unknown[]];
  /** Whether rows are observations (then group members are fetched as the adapter does). */
  readonly members?: boolean;
  /** The resource is the patient itself (`_id`), with its names, identifiers and addresses. */
  readonly patientItself?: boolean;
  /** Continue after the first page (keyset paging): prepares each patient's page-two position. */
  readonly nextPage?: true;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'Observation?patient&_sort=-date&_count=20', fhir: 'Observation?_sort=-date', count: 20, members: true, direct: (patient) => [PAGE_ONE, [patient]] },
  {
    name: 'same, next page (keyset)',
    fhir: 'Observation?_sort=-date',
    count: 20,
    members: true,
    nextPage: true,
    direct: (patient, { after }) => [
      `select ${OBS_COLUMNS} from ${OBS_FROM} where ${OBS_WHERE} and (o.obs_datetime < $2 or (o.obs_datetime = $2 and o.obs_id > $3))
        order by o.obs_datetime desc, o.obs_id limit 21`,
      [patient, ...(after ?? [])],
    ],
  },
  {
    name: 'Observation?patient&code=loinc|8480-6',
    fhir: 'Observation?code=http://loinc.org|8480-6',
    count: 50,
    members: true,
    direct: (patient) => [
      `select ${OBS_COLUMNS} from ${OBS_FROM} where ${OBS_WHERE} and o.concept_id in (
        select m.concept_id from concept_reference_map m join concept_reference_term t on t.concept_reference_term_id = m.concept_reference_term_id
        join concept_reference_source s on s.concept_source_id = t.concept_source_id join concept_map_type mt on mt.concept_map_type_id = m.concept_map_type_id
        where mt.name = 'SAME-AS' and t.retired = ${FALSE} and s.name = 'LOINC' and t.code = '8480-6') order by o.obs_id limit 51`,
      [patient],
    ],
  },
  {
    name: 'Observation?patient&date=ge2022&date=lt2023',
    fhir: 'Observation?date=ge2022-01-01&date=lt2023-01-01',
    count: 50,
    members: true,
    direct: (patient) => [
      `select ${OBS_COLUMNS} from ${OBS_FROM} where ${OBS_WHERE} and o.obs_datetime >= '2022-01-01 00:00:00'
        and o.obs_datetime < '2023-01-01 00:00:00' order by o.obs_id limit 51`,
      [patient],
    ],
  },
  {
    name: 'Observation?patient&category=laboratory',
    fhir: 'Observation?category=laboratory',
    count: 50,
    members: true,
    direct: (patient) => [`select ${OBS_COLUMNS} from ${OBS_FROM} where ${OBS_WHERE} and cc.name in ('Test', 'LabSet') order by o.obs_id limit 51`, [patient]],
  },
  {
    name: 'MedicationRequest?patient',
    fhir: 'MedicationRequest',
    count: 50,
    direct: (patient) => [ORDER_SQL, [patient, new Date().toISOString().slice(0, 19).replace('T', ' ')]],
  },
  {
    name: 'Patient?_id (with names, identifiers, addresses)',
    fhir: 'Patient',
    count: 1,
    patientItself: true,
    direct: (patient) => [
      `select p.person_id, p.uuid, p.gender, p.birthdate, p.dead, p.death_date, coalesce(p.date_changed, p.date_created) as updated
        from person p join patient pt on pt.patient_id = p.person_id where p.voided = ${FALSE} and pt.voided = ${FALSE} and p.uuid = $1 limit 2`,
      [patient],
    ],
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
      // `$n` placeholders (repeatable) → positional `?`.
      const order = [...text.matchAll(/\$(\d+)/g)].map((m) => params[Number(m[1]) - 1]);
      const [rows] = await pool.query<RowDataPacket[]>(text.replace(/\$\d+/g, '?'), order);
      return rows as Record<string, unknown>[];
    },
    close: () => pool.end(),
  };
}

async function runDirect(direct: Direct, s: Scenario, patient: string, prepared: Prepared): Promise<number> {
  const [text, params] = s.direct(patient, prepared);
  const rows = await direct.query(text, params);
  const page = rows.slice(0, s.count);
  if (s.patientItself && page.length > 0) {
    // The Patient's names, identifiers (with type and location) and addresses, side by side.
    const id = [Number(page[0]?.person_id)];
    await Promise.all([
      direct.query(`select n.uuid, n.preferred, n.prefix, n.given_name, n.middle_name, n.family_name, n.family_name_suffix, n.degree, n.person_id from person_name n where n.voided = ${FALSE} and n.person_id in ($1) order by n.person_id, case when n.preferred = ${TRUE} then '0' else '1' end, n.person_name_id`, id),
      direct.query(`select i.uuid, i.identifier, i.preferred, it.uuid as type_uuid, it.name as type_name, l.name as location_name, i.patient_id from patient_identifier i join patient_identifier_type it on it.patient_identifier_type_id = i.identifier_type left join location l on l.location_id = i.location_id where i.voided = ${FALSE} and i.patient_id in ($1) order by i.patient_id, i.patient_identifier_id`, id),
      direct.query(`select a.uuid, a.preferred, a.address1, a.address2, a.city_village, a.county_district, a.state_province, a.postal_code, a.country, a.start_date, a.end_date, a.person_id from person_address a where a.voided = ${FALSE} and a.person_id in ($1) order by a.person_id, a.person_address_id`, id),
    ]);
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
  /** Median of the per-iteration ratios adapter / direct. */
  readonly ratio: number;
}

async function measure(obsPerPatient: number): Promise<Row[]> {
  return withDatabase(obsPerPatient, async (database) => {
    const rows: Row[] = [];
    const patients = Array.from({ length: 50 }, (_, i) => seedUuid('person', 1 + ((i * 197) % PATIENTS)));
    for (const s of SCENARIOS) {
      // Both sides start every scenario on fresh connections: what earlier scenarios left on a
      // connection made the next one's statements measurably faster or slower on one side only.
      const connection = openSqlConnection({ ...server, database, poolSize: 2 });
      const adapter = await SqlAdapter.open({ sourceId: 'bench', connection, mapping: openmrsMapping() });
      const direct = directClient(database);
      try {
        const request = parseSearchRequest(s.fhir);
        const viaAdapter = async (patient: string, prepared: Prepared): Promise<{ count: number; next?: string }> => {
          const page = await adapter.search(
            {
              resourceType: request.resourceType,
              filters: s.patientItself ? [{ code: '_id', operator: 'eq' as never, value: patient }] : (request.filters ?? []),
              sort: request.sortRules,
              count: s.count,
              patients: s.patientItself ? undefined : [patient],
              page: prepared.token,
            },
            AbortSignal.timeout(30_000),
          );
          return { count: page.resources.length, next: page.next };
        };
        // Page two: the adapter's token and the hand-written query's keyset values for each patient.
        const prepared = new Map<string, Prepared>();
        for (const patient of patients) {
          if (!s.nextPage) {
            prepared.set(patient, {});
            continue;
          }
          // Only patients with a second page.
          const first = await viaAdapter(patient, {});
          const last = (await direct.query(PAGE_ONE, [patient]))[s.count - 1];
          if (first.next && last) prepared.set(patient, { token: first.next, after: [last.obs_datetime, last.obs_id] });
        }
        const cohort = [...prepared.keys()];
        if (cohort.length === 0) continue;
        const a: number[] = [];
        const d: number[] = [];
        const ratios: number[] = [];
        for (let i = 0; i < WARMUP + ITERATIONS; i++) {
          const patient = cohort[i % cohort.length] as string;
          const state = prepared.get(patient) ?? {};
          // Alternate which goes first so neither always meets a cold buffer.
          const timed = async (which: 'a' | 'd'): Promise<[number, number]> => {
            const t0 = performance.now();
            const n = which === 'a' ? (await viaAdapter(patient, state)).count : await runDirect(direct, s, patient, state);
            return [performance.now() - t0, n];
          };
          let ta: number, na: number, td: number, nd: number;
          if (i % 2 === 0) {
            [ta, na] = await timed('a');
            [td, nd] = await timed('d');
          } else {
            [td, nd] = await timed('d');
            [ta, na] = await timed('a');
          }
          if (na !== nd) throw new Error(`${s.name}: adapter and direct SQL disagree (${na} vs ${nd})`);
          if (i < WARMUP) continue;
          a.push(ta);
          d.push(td);
          ratios.push(ta / td);
        }
        rows.push({
          size: PATIENTS * obsPerPatient, scenario: s.name, adapterMedian: quantile(a, 0.5), adapterP95: quantile(a, 0.95),
          directMedian: quantile(d, 0.5), directP95: quantile(d, 0.95), ratio: quantile(ratios, 0.5),
        });
      } finally {
        await adapter.close();
        await direct.close();
      }
    }
    return rows;
  });
}

loadFhirDefinitions();
console.log(`# SQL adapter (OpenMRS profile) vs hand-written SQL on ${dialect}, ${PATIENTS} patients, ${ITERATIONS} paired searches per cell, ${new Date().toISOString().slice(0, 10)}`);
const all: Row[] = [];
for (const perPatient of OBS_PER_PATIENT) {
  const rows = await measure(perPatient);
  all.push(...rows);
  console.log(`\n## ${(PATIENTS * perPatient).toLocaleString('en')} observations`);
  console.log('search'.padEnd(50), 'adapter p50/p95 ms'.padStart(20), 'direct p50/p95 ms'.padStart(20), 'ratio'.padStart(7));
  for (const r of rows) {
    console.log(
      r.scenario.padEnd(50),
      `${r.adapterMedian.toFixed(2)} / ${r.adapterP95.toFixed(2)}`.padStart(20),
      `${r.directMedian.toFixed(2)} / ${r.directP95.toFixed(2)}`.padStart(20),
      r.ratio.toFixed(2).padStart(7),
    );
  }
}
const largest = Math.max(...all.map((r) => r.size));
const ratios = all.filter((r) => r.size === largest).map((r) => r.ratio);
const geo = Math.exp(ratios.reduce((sum, x) => sum + Math.log(x), 0) / ratios.length);
console.log(`\nratio adapter/direct (median of paired ratios) at ${largest.toLocaleString('en')} obs: geometric mean ${geo.toFixed(2)}, worst ${Math.max(...ratios).toFixed(2)} (aim ≤ 1.5)`);
const growth = SCENARIOS.map((s) => {
  const cells = all.filter((r) => r.scenario === s.name);
  return `${s.name}: ${cells.map((c) => c.adapterMedian.toFixed(2)).join(' → ')} ms (direct ${cells.map((c) => c.directMedian.toFixed(2)).join(' → ')})`;
});
console.log(`p50 as observations grow (${OBS_PER_PATIENT.map((n) => (PATIENTS * n).toLocaleString('en')).join(' → ')}):\n  ${growth.join('\n  ')}`);
