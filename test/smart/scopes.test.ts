import t from 'tap';
import { categorySubScopes, narrowTo, parseResourceScope, parseScopes, scopeCovers } from '../../smart-on-fhir/scopes.ts';
import { grantedFromConsent } from '../../smart-on-fhir/authorize.ts';

const letters = (raw: string) => [...parseResourceScope(raw)!.interactions].sort().join('');

t.test('v1 scopes map onto v2 interactions (.read = rs, .write = cud, .* = cruds)', async (t) => {
  t.equal(letters('patient/Observation.read'), 'rs');
  t.equal(letters('user/*.write'), 'cdu');
  t.equal(letters('system/Patient.*'), 'cdrsu');
  const s = parseResourceScope('patient/Observation.read')!;
  t.equal(s.level, 'patient');
  t.equal(s.resourceType, 'Observation');
  t.equal(s.raw, 'patient/Observation.read', 'the raw form is kept so v1 asks get v1 answers');
});

t.test('v2 scopes: ordered cruds letters, query constraints, and malformed ones rejected', async (t) => {
  t.equal(letters('patient/Observation.rs'), 'rs');
  t.equal(letters('user/Condition.cruds'), 'cdrsu');
  const c = parseResourceScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory')!;
  t.same(c.constraints, [['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory']]);
  for (const bad of ['patient/Observation.sr', 'patient/Observation.', 'patient/Observation.dus', 'patient/observation.rs', 'group/Patient.rs', 'patient/Observation.rs?', 'patient/Observation.rs?category', 'patient/Observation.readx']) {
    t.equal(parseResourceScope(bad), undefined, bad);
  }
});

t.test('unknown scopes are dropped, not fatal; context scopes are recognised', async (t) => {
  const p = parseScopes('openid fhirUser launch/patient offline_access patient/*.rs made-up/scope https://example.org/x');
  t.same(p.accepted, ['openid', 'fhirUser', 'launch/patient', 'offline_access', 'patient/*.rs']);
  t.same(p.dropped, ['made-up/scope', 'https://example.org/x']);
  t.ok(p.context.has('launch/patient'));
  t.equal(p.resources.length, 1);
});

t.test('covering: same level, type or wildcard, subset of interactions, at least the same constraints', async (t) => {
  const s = (raw: string) => parseResourceScope(raw)!;
  t.ok(scopeCovers(s('patient/*.rs'), s('patient/Observation.r')));
  t.ok(scopeCovers(s('patient/Observation.read'), s('patient/Observation.rs?category=a|b')));
  t.notOk(scopeCovers(s('patient/Observation.rs?category=a|b'), s('patient/Observation.rs')), 'a constrained scope does not cover the whole type');
  t.notOk(scopeCovers(s('patient/Observation.r'), s('patient/Observation.rs')));
  t.notOk(scopeCovers(s('patient/*.rs'), s('user/Observation.rs')));
  t.same(narrowTo(parseScopes('offline_access patient/*.rs'), parseScopes('offline_access patient/Patient.r openid user/*.rs')), ['offline_access', 'patient/Patient.r']);
});

t.test('category sub-scopes for Observation and Condition, v2 form of the asked interactions', async (t) => {
  const subs = categorySubScopes(parseResourceScope('patient/Condition.read')!);
  t.same(subs.map((s) => s.raw.split('|')[1]), ['encounter-diagnosis', 'problem-list-item', 'health-concern']);
  t.match(subs[0]!.raw, /^patient\/Condition\.rs\?category=/);
  t.equal(categorySubScopes(parseResourceScope('patient/Observation.rs')!).length, 6);
  t.same(categorySubScopes(parseResourceScope('patient/MedicationRequest.rs')!), []);
});

t.test('consent outcome keeps launch scopes, refuses additions, and lets a whole type win over its categories', async (t) => {
  const asked = 'launch/patient openid patient/Observation.rs';
  const lab = 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
  t.same(grantedFromConsent(asked, []), ['launch/patient']);
  t.same(grantedFromConsent(asked, ['openid', lab]), ['launch/patient', 'openid', lab]);
  t.same(grantedFromConsent(asked, ['patient/Observation.rs', lab]), ['launch/patient', 'patient/Observation.rs']);
  t.same(grantedFromConsent(asked, ['patient/*.rs', 'user/Observation.rs', 'offline_access']), ['launch/patient']);
});
