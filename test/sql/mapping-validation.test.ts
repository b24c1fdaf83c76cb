import t from 'tap';
import type { ResourceMapping, SqlMapping } from '../../adapters/sql/mapping.ts';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { SqlAdapter } from '../../adapters/sql/sql-adapter.ts';
import { openSqlConnection } from '../../adapters/sql/sql-connection.ts';
import { MappingError, validateMapping } from '../../adapters/sql/validate-mapping.ts';

const base: ResourceMapping = {
  from: { table: 'person', as: 'p' },
  where: [{ cmp: ['p.voided', '=', { lit: false }] }],
  key: 'p.person_id',
  id: 'p.uuid',
  lastUpdated: 'p.date_created',
  select: { gender: 'p.gender' },
  resource: { object: { gender: { field: 'gender' } } },
  search: {},
};
const mapping = (patient: Partial<ResourceMapping> | Record<string, unknown>): SqlMapping => ({
  name: 'test',
  resources: { Patient: { ...base, ...patient } as ResourceMapping },
});

t.test('the OpenMRS profile is a valid mapping, with and without site options', async (t) => {
  t.doesNotThrow(() => validateMapping(openmrsMapping()));
  t.doesNotThrow(() => validateMapping(openmrsMapping({ locations: ['8d6c993e-c2cc-11de-8d13-0010c6dffd0f'], identifierTypes: ['05a29f94-c0ed-11e2-94be-8c13b969e334'] })));
});

t.test('a mapping that could carry SQL text is refused, naming the offending part', async (t) => {
  const refusals: [string, SqlMapping, RegExp][] = [
    ['a table name with a second statement', mapping({ from: { table: 'person; DELETE FROM obs', as: 'p' } }), /table "person; DELETE FROM obs" is not an identifier/],
    ['an alias with a comment', mapping({ from: { table: 'person', as: 'p --' } }), /alias "p --" is not an identifier/],
    ['a raw SQL expression', mapping({ select: { gender: { raw: 'DELETE FROM obs' } } as never }), /unknown expression \["raw"\]/],
    ['a column reference with SQL in it', mapping({ id: "p.uuid); DROP TABLE person; --" }), /is not a column reference/],
    ['a column of an undeclared alias', mapping({ select: { gender: 'x.gender' } }), /alias x is not declared/],
    ['an unknown comparison operator', mapping({ where: [{ cmp: ['p.voided', '= 0; UPDATE person SET voided = 1; --', { lit: 0 }] }] as never }), /operator/],
    ['an extra key on a resource', mapping({ sqlBefore: 'INSERT INTO obs VALUES (1)' }), /unexpected key "sqlBefore"/],
    ['a template reading an unselected field', mapping({ resource: { object: { birthDate: { field: 'birthdate' } } } }), /field birthdate is not selected/],
    ['a coding pushdown without its lookup', mapping({ search: { code: { kind: 'coding', expr: 'p.gender', lookup: 'concept' } } }), /lookup concept has no codingIndex/],
    ['an unknown pushdown kind', mapping({ search: { code: { kind: 'sql', expr: 'p.gender' } } as never }), /unknown pushdown kind/],
  ];
  for (const [what, bad, message] of refusals) {
    t.throws(() => validateMapping(bad), message, what);
    t.throws(() => validateMapping(bad), MappingError);
  }
});

t.test('the adapter refuses to start with such a mapping, before it runs any query', async (t) => {
  const connection = openSqlConnection({ dialect: 'sqlite', filename: ':memory:' });
  await t.rejects(
    SqlAdapter.open({ sourceId: 'bad', connection, mapping: mapping({ from: { table: 'person; DROP TABLE person', as: 'p' } }) }),
    /refused/,
  );
  await connection.close();
});
