/**
 * The same seed on SQLite, MariaDB and PostgreSQL renders to exactly the same FHIR resources:
 * no dialect leaks into the output (padding, booleans, numbers, date formats, ordering).
 */
import type { Resource } from '@medplum/fhirtypes';
import t from 'tap';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { SqlAdapter } from '../../adapters/sql/sql-adapter.ts';
import { openSqlConnection, type SqlDialectName } from '../../adapters/sql/sql-connection.ts';
import { createTestDatabase } from './support/openmrs-databases.ts';
import { requireServer } from '../support/database-servers.ts';

const TYPES = ['Patient', 'Encounter', 'Observation', 'MedicationRequest', 'AllergyIntolerance'] as const;

async function render(dialect: SqlDialectName): Promise<Record<string, readonly Resource[]>> {
  const database = await createTestDatabase(dialect);
  const adapter = await SqlAdapter.open({ sourceId: 'openmrs', connection: openSqlConnection(database.options), mapping: openmrsMapping() });
  try {
    const out: Record<string, readonly Resource[]> = {};
    for (const type of TYPES) {
      const page = await adapter.search({ resourceType: type, filters: [], count: 1000 }, AbortSignal.timeout(30_000));
      out[type] = page.resources;
    }
    return out;
  } finally {
    await adapter.close();
    await database.drop();
  }
}

t.test('the same OpenMRS rows render to identical FHIR resources on SQLite, MariaDB and PostgreSQL', async (t) => {
  if (!(await requireServer(t, 'mariadb')) || !(await requireServer(t, 'postgres'))) return;
  const sqlite = await render('sqlite');
  for (const dialect of ['mariadb', 'postgres'] as const) {
    const other = await render(dialect);
    for (const type of TYPES) {
      t.ok((sqlite[type]?.length ?? 0) > 0, `${type}: rendered`);
      t.strictSame(other[type], sqlite[type], `${type} on ${dialect}: identical to SQLite, in the same order`);
    }
  }
});
