import { sql } from 'kysely';
import t from 'tap';
import { SourceUnavailableError } from '../../adapters/ehr-adapter.ts';
import type { SqlMapping } from '../../adapters/sql/mapping.ts';
import { SqliteStatementTimeoutError } from '../../adapters/sql/node-sqlite-dialect.ts';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { SqlAdapter } from '../../adapters/sql/sql-adapter.ts';
import { DEFAULT_STATEMENT_TIMEOUT_MS, openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from '../../adapters/sql/sql-connection.ts';
import { createTestDatabase, requireServer, serverAvailable } from './support/openmrs-databases.ts';

/** A statement that never ends on SQLite (SQLite has no sleep). */
const SQLITE_ENDLESS = sql`with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) as c from r`;

t.test('the default statement timeout is below the default source deadline (5 s)', async (t) => {
  t.ok(DEFAULT_STATEMENT_TIMEOUT_MS < 5000, `${DEFAULT_STATEMENT_TIMEOUT_MS} ms`);
});

t.test('SQLite: a statement past its timeout is stopped while the server\'s event loop keeps running, and the connection serves again', async (t) => {
  const database = await createTestDatabase('sqlite', { patients: 1, obsPerPatient: 1, encountersPerPatient: 1, ordersPerPatient: 0 });
  t.teardown(() => database.drop());
  const connection = openSqlConnection({ ...database.options, statementTimeoutMs: 200, poolSize: 1 });
  t.teardown(() => connection.close());
  const settled: string[] = [];
  const slow = SQLITE_ENDLESS.execute(connection.db).then(
    () => settled.push('statement finished'),
    (err: unknown) => settled.push(err instanceof SqliteStatementTimeoutError ? 'statement stopped by its timeout' : String(err)),
  );
  setTimeout(() => settled.push('a timer'), 1);
  await slow;
  t.same(settled, ['a timer', 'statement stopped by its timeout'], 'the event loop ran while the statement did, and the statement was stopped');
  const { rows } = await sql<{ n: unknown }>`select count(*) as n from person`.execute(connection.db);
  t.ok(Number(rows[0]?.n) > 0, 'the connection answers again');
  await t.resolves(connection.assertReadOnly(), 'and is still read-only');
});

const servers: readonly [string, SqlConnectionOptions, ReturnType<typeof sql>, RegExp][] = [
  ['MariaDB', { dialect: 'mariadb', host: '127.0.0.1', port: 3306, user: 'root' }, sql`select sleep(3) as s`, /max_statement_time|interrupted/i],
  ['PostgreSQL', { dialect: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' }, sql`select pg_sleep(3) as s`, /statement timeout/i],
];

for (const [name, options, slow, message] of servers) {
  t.test(`${name}: every pooled connection has the statement timeout and is read-only`, async (t) => {
    const unavailable = await serverAvailable(options.dialect);
    if (unavailable !== undefined) {
      if (process.env.CI === 'true') t.fail(`${name} is required under CI=true: ${unavailable}`);
      else t.pass(name, { skip: unavailable });
      return;
    }
    const connection = openSqlConnection({ ...options, statementTimeoutMs: 200, poolSize: 2 });
    t.teardown(() => connection.close());
    // Two at once: both pooled connections are set up the same way.
    const results = await Promise.allSettled([slow.execute(connection.db), slow.execute(connection.db)]);
    for (const r of results) {
      t.equal(r.status, 'rejected', 'a statement longer than the limit is stopped');
      if (r.status === 'rejected') t.match(String((r.reason as Error).message), message);
    }
    await t.resolves(connection.assertReadOnly());
    await t.resolves(sql`select 1 as one`.execute(connection.db), 'the pool is usable after a timeout');
  });
}

t.test('a database that goes away: searches fail as SourceUnavailableError (a warning for the federation), health says down', async (t) => {
  const unavailable = await serverAvailable('postgres');
  if (unavailable !== undefined) {
    if (process.env.CI === 'true') t.fail(`PostgreSQL is required under CI=true: ${unavailable}`);
    else t.pass('PostgreSQL', { skip: unavailable });
    return;
  }
  const database = await createTestDatabase('postgres', { patients: 1, obsPerPatient: 1, encountersPerPatient: 1, ordersPerPatient: 0 });
  const adapter = await SqlAdapter.open({ sourceId: 'gone', connection: openSqlConnection(database.options), mapping: openmrsMapping() });
  const signal = AbortSignal.timeout(10_000);
  t.equal((await adapter.health(signal)).status, 'up');
  await database.drop();
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], count: 5 }, signal), SourceUnavailableError);
  const health = await adapter.health(signal);
  t.equal(health.status, 'down');
  await adapter.close();
});

/** A statement on `slow_person` that runs until it is cancelled. */
const SLOW_VIEW: Readonly<Record<SqlDialectName, ReturnType<typeof sql>>> = {
  sqlite: sql`create view slow_person as select p.* from person p where (${SQLITE_ENDLESS}) > 0`,
  postgres: sql`create view slow_person as select p.* from person p cross join lateral (select pg_sleep(600)) as nap`,
  mariadb: sql`create view slow_person as select p.* from person p where sleep(600) = 0`,
  mysql: sql`create view slow_person as select p.* from person p where sleep(600) = 0`,
};
/** How the server lists statements on `slow_person` still running. */
const RUNNING: Partial<Record<SqlDialectName, ReturnType<typeof sql<{ n: unknown }>>>> = {
  postgres: sql<{ n: unknown }>`select count(*) as n from pg_stat_activity where state = 'active' and query like '%slow_person%' and query not like '%pg_stat_activity%'`,
  mariadb: sql<{ n: unknown }>`select count(*) as n from information_schema.processlist where info like '%slow_person%' and info not like '%processlist%'`,
};

for (const dialect of ['sqlite', 'mariadb', 'postgres'] as const) {
  t.test(`${dialect}: an aborted search cancels its statement and frees its connection`, async (t) => {
    if (!(await requireServer(t, dialect))) return;
    const database = await createTestDatabase(dialect, { patients: 2, obsPerPatient: 1, encountersPerPatient: 1, ordersPerPatient: 0 });
    t.teardown(() => database.drop());
    const admin = openSqlConnection({ ...database.writable, poolSize: 1 });
    t.teardown(() => admin.close());
    await SLOW_VIEW[dialect].execute(admin.db);
    const base = openmrsMapping();
    const patient = base.resources.Patient;
    if (!patient) throw new Error('no Patient mapping');
    const mapping: SqlMapping = { ...base, resources: { ...base.resources, Patient: { ...patient, from: { table: 'slow_person', as: 'p' } } } };
    // One connection, and a statement timeout far beyond the test: only the abort can stop the statement.
    const adapter = await SqlAdapter.open({ sourceId: 'slow', connection: openSqlConnection({ ...database.options, poolSize: 1, statementTimeoutMs: 600_000 }), mapping });
    t.teardown(() => adapter.close());

    const controller = new AbortController();
    const search = adapter.search({ resourceType: 'Patient', filters: [], count: 10 }, controller.signal);
    const running = RUNNING[dialect];
    if (running) {
      // Abort only once the server runs the statement.
      for (let seen = 0; seen === 0; ) {
        const { rows } = await running.execute(admin.db);
        seen = Number(rows[0]?.n);
      }
    }
    controller.abort(new Error('caller gave up'));
    await t.rejects(search, { message: 'caller gave up' }, 'the aborted search fails with the abort reason');
    if (running) {
      const { rows } = await running.execute(admin.db);
      t.equal(Number(rows[0]?.n), 0, 'the server no longer runs the statement');
    }
    const next = await adapter.search({ resourceType: 'Encounter', filters: [], count: 10 }, AbortSignal.timeout(30_000));
    t.ok(next.resources.length > 0, 'the single pooled connection serves the next search');
  });
}
