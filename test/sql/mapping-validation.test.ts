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

t.test('a mapping with missing or ill-typed parts is refused with one line naming each part, never a crash', async (t) => {
  const refusals: [string, unknown, RegExp][] = [
    ['not an object', 'openmrs', /mapping \(unnamed\) refused: mapping: must be an object/],
    ['no resources', { name: 'x' }, /mapping: resources is required/],
    ['resources as a list', { name: 'x', resources: [] }, /resources: must be an object/],
    ['a table given as a string', mapping({ from: 'person' }), /resources.Patient.from: must be an object/],
    ['select as a list', mapping({ select: ['p.gender'] }), /resources.Patient.select: must be an object/],
    ['where as an object', mapping({ where: { cmp: ['p.voided', '=', { lit: false }] } }), /resources.Patient.where: must be a list/],
    ['a missing key expression', mapping({ key: undefined }), /resources.Patient: key is required/],
    ['a numeric id expression', mapping({ id: 7 }), /resources.Patient.id: not an expression/],
    ['a comparison that is not a triple', mapping({ where: [{ cmp: ['p.voided', '='] }] }), /cmp must be \[expression, operator, expression\]/],
    ['an in-list of objects', mapping({ where: [{ in: 'p.gender', values: [{}] }] }), /values: must be strings or numbers/],
    ['search as null', mapping({ search: null }), /resources.Patient.search: must be an object/],
    ['a pushdown without kind', mapping({ search: { gender: { expr: 'p.gender' } } }), /search.gender: unknown pushdown kind/],
    ['a date pushdown without precision', mapping({ search: { birthdate: { kind: 'date', expr: 'p.gender' } } }), /search.birthdate: precision is required/],
    ['token codes that are not lists', mapping({ search: { gender: { kind: 'token', expr: 'p.gender', codes: { male: 'M' } } } }), /codes.male: must be a list/],
    ['a sort of unknown kind', mapping({ sort: { gender: { expr: 'p.gender', kind: 'number' } } }), /sort.gender.kind: must be one of date, string/],
    ['a template that is a string', mapping({ resource: { object: { gender: 'gender' } } }), /resource.gender: not a template/],
    ['a resource body that is not an object template', mapping({ resource: { field: 'gender' } }), /resource: must be an object template/],
    ['a value type that does not exist', mapping({ resource: { object: { gender: { field: 'gender', as: 'sql' } } } }), /gender.as: must be one of/],
    ['an each over a missing child', mapping({ resource: { object: { name: { each: 'names', item: { field: 'x' } } } } }), /no child names here/],
    ['a select name reserved for the adapter', mapping({ select: { __key: 'p.gender' } }), /"__key" is not an identifier/],
    ['an in-memory parameter FHIR does not define', mapping({ searchInMemory: ['favourite-colour'] }), /favourite-colour is not a Patient search parameter/],
    ['onlyWhere naming no parent field', mapping({ children: { names: { from: { table: 'person_name', as: 'n' }, select: { given: 'n.given_name' }, parentKey: 'n.person_id', orderBy: [], onlyWhere: 'nope' } } }), /onlyWhere: must name a field the parent selects/],
  ];
  for (const [what, bad, message] of refusals) {
    t.throws(() => validateMapping(bad), message, what);
    t.throws(() => validateMapping(bad), MappingError, `${what}: a MappingError`);
  }
});

t.test('a lookup inside a lookup item is refused: the adapter fetches lookups for resource and child rows only', async (t) => {
  const nested: SqlMapping = {
    ...mapping({ select: { gender: 'p.gender', concept: 'p.person_id' }, resource: { object: { x: { lookup: 'concept', key: 'concept', item: { lookup: 'concept', key: 'uuid', item: { field: 'uuid' } } } } } }),
    lookups: { concept: { from: { table: 'concept', as: 'c' }, key: 'c.concept_id', select: { uuid: 'c.uuid' } } },
  };
  t.throws(() => validateMapping(nested), /a lookup inside a lookup item is not fetched/);
});

t.test('every single-part damage to the OpenMRS profile is refused as a MappingError, never a TypeError', async (t) => {
  // Each key of each object node of the profile in turn is removed or given a value of the
  // wrong type (rotating through the damages), validated, and restored.
  const original = JSON.parse(JSON.stringify(openmrsMapping())) as Record<string, unknown>;
  const damages = [undefined, 42, null, [], 'x; drop table person'];
  let tried = 0;
  let refused = 0;
  const visit = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const target = node as Record<string, unknown>;
    for (const key of Object.keys(target)) {
      const kept = target[key];
      const damage = damages[tried++ % damages.length];
      if (damage === undefined) delete target[key];
      else target[key] = damage;
      try {
        validateMapping(original);
      } catch (err) {
        if (!(err instanceof MappingError)) t.fail(`${path}.${key} = ${JSON.stringify(damage)}: ${String(err)}`);
        else refused++;
      }
      target[key] = kept;
      visit(kept, `${path}.${key}`);
    }
  };
  visit(original, 'mapping');
  t.ok(tried > 2000 && refused > tried / 2, `${refused} of ${tried} damaged mappings refused, the rest still valid`);
});

t.test('the adapter refuses to start with such a mapping, before it runs any query', async (t) => {
  const connection = openSqlConnection({ dialect: 'sqlite', filename: ':memory:' });
  await t.rejects(
    SqlAdapter.open({ sourceId: 'bad', connection, mapping: mapping({ from: { table: 'person; DROP TABLE person', as: 'p' } }) }),
    /refused/,
  );
  await connection.close();
});
