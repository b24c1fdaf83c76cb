import { sql } from 'kysely';
import t from 'tap';
import { SourceUnavailableError } from '../../adapters/ehr-adapter.ts';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { SqlAdapter } from '../../adapters/sql/sql-adapter.ts';
import { openSqlConnection, type SqlConnectionOptions } from '../../adapters/sql/sql-connection.ts';
import { createTestDatabase, serverAvailable } from './support/openmrs-databases.ts';

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
