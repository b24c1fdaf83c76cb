import { sql } from 'kysely';
import t from 'tap';
import { SourceUnavailableError } from '../../adapters/ehr-adapter.ts';
import type { SqlMapping } from '../../adapters/sql/mapping.ts';
import { SqliteStatementTimeoutError } from '../../adapters/sql/node-sqlite-dialect.ts';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { SqlAdapter } from '../../adapters/sql/sql-adapter.ts';
import { DEFAULT_STATEMENT_TIMEOUT_MS, openSqlConnection, type SqlDialectName } from '../../adapters/sql/sql-connection.ts';
import { loadConfig } from '../../server/config/config.ts';
import { DATABASE_SERVERS, requireServer } from '../support/database-servers.ts';
import { createTestDatabase } from './support/openmrs-databases.ts';

/** A statement that never ends on SQLite (SQLite has no sleep). */
const SQLITE_ENDLESS = sql`with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) as c from r`;

/** How each server reports the statement timeout of the session, in milliseconds. */
const SESSION_TIMEOUT_MS: Readonly<Record<'mariadb' | 'postgres', ReturnType<typeof sql<{ ms: unknown }>>>> = {
  mariadb: sql<{ ms: unknown }>`select @@session.max_statement_time * 1000 as ms`,
  postgres: sql<{ ms: unknown }>`select setting::int as ms from pg_settings where name = 'statement_timeout'`,
};

for (const dialect of ['mariadb', 'postgres'] as const) {
  t.test(`${dialect}: a connection opened without a statement timeout has the default one, below the default source deadline`, async (t) => {
    if (!(await requireServer(t, dialect))) return;
    const connection = openSqlConnection({ ...DATABASE_SERVERS[dialect], poolSize: 1 });
    t.teardown(() => connection.close());
    const { rows } = await SESSION_TIMEOUT_MS[dialect].execute(connection.db);
    const sessionMs = Number(rows[0]?.ms);
    t.equal(sessionMs, DEFAULT_STATEMENT_TIMEOUT_MS, 'the session carries the default');
    const sourceDeadlineMs = loadConfig({}).sourceTimeoutMs;
    t.ok(sessionMs < sourceDeadlineMs, `${sessionMs} ms < the ${sourceDeadlineMs} ms source deadline: the database gives up first`);
  });
}

t.test('SQLite: a statement past its timeout is stopped while the server\'s event loop keeps running, and the connection serves again', async (t) => {
  const database = await createTestDatabase('sqlite', { patients: 1, obsPerPatient: 1, encountersPerPatient: 1, ordersPerPatient: 0 });
  t.teardown(() => database.drop());
  // Two connections (two processes): one for the endless statement, one to show the server still works meanwhile.
  const connection = openSqlConnection({ ...database.options, statementTimeoutMs: 3000, poolSize: 2 });
  t.teardown(() => connection.close());
  const count = sql<{ n: unknown }>`select count(*) as n from person`;
  await Promise.all([count.execute(connection.db), count.execute(connection.db)]); // both processes up
  let outcome: string | undefined;
  const slow = SQLITE_ENDLESS.execute(connection.db).then(
    () => (outcome = 'statement finished'),
    (err: unknown) => (outcome = err instanceof SqliteStatementTimeoutError ? 'statement stopped by its timeout' : String(err)),
  );
  // Were the statement run on the event loop, nothing else could be answered until it ended.
  const { rows } = await count.execute(connection.db);
  t.ok(Number(rows[0]?.n) > 0, 'another statement is answered meanwhile');
  t.equal(outcome, undefined, 'while the endless statement still runs');
  await slow;
  t.equal(outcome, 'statement stopped by its timeout');
  // Both connections at once: the stopped statement's connection serves again (were it still busy, one would never answer).
  const again = await Promise.all([count.execute(connection.db), count.execute(connection.db)]);
  t.ok(again.every((r) => Number(r.rows[0]?.n) > 0), 'every pooled connection answers again');
  await t.resolves(connection.assertReadOnly(), 'and is still read-only');
});

const servers: readonly ['mariadb' | 'postgres', ReturnType<typeof sql>, RegExp][] = [
  ['mariadb', sql`select sleep(3) as s`, /max_statement_time|interrupted/i],
  ['postgres', sql`select pg_sleep(3) as s`, /statement timeout/i],
];

for (const [dialect, slow, message] of servers) {
  t.test(`${dialect}: every pooled connection has the statement timeout and is read-only`, async (t) => {
    if (!(await requireServer(t, dialect))) return;
    const connection = openSqlConnection({ ...DATABASE_SERVERS[dialect], statementTimeoutMs: 200, poolSize: 2 });
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
  if (!(await requireServer(t, 'postgres'))) return;
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
