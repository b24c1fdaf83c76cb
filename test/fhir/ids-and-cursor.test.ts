import t from 'tap';
import { OperationOutcomeError } from '@medplum/core';
import { CursorSealer, searchFingerprint } from '../../server/fhir/cursor.ts';
import type { CursorState } from '../../server/fhir/cursor.ts';
import { ResourceIdCodec } from '../../server/fhir/ids.ts';

const secret = Buffer.from('0123456789abcdef0123456789abcdef');

t.test('ids are <source>.<local> when that is a valid FHIR id of at most 64 chars, and decode back', async (t) => {
  const codec = new ResourceIdCodec(secret);
  const id = codec.encode('hospital', 'ea877536-55b1-4ec8-a12b-e95594214c01');
  t.equal(id, 'hospital.ea877536-55b1-4ec8-a12b-e95594214c01');
  t.same(codec.decode(id), { sourceId: 'hospital', localId: 'ea877536-55b1-4ec8-a12b-e95594214c01' });
  t.same(codec.decode('clinic.a.b'), { sourceId: 'clinic', localId: 'a.b' }, 'dots in local ids survive');
});

t.test('long or non-FHIR local ids get a keyed digest id that is reversible where it was issued', async (t) => {
  const codec = new ResourceIdCodec(secret);
  const local = `https://ehr.example/fhir/Observation/${'x'.repeat(80)}`;
  const id = codec.encode('epic', local);
  t.match(id, /^epic\.\.[0-9a-f]{32}$/);
  t.ok(id.length <= 64);
  t.same(codec.decode(id), { sourceId: 'epic', localId: local });
  t.equal(new ResourceIdCodec(secret).encode('epic', local), id, 'stable across instances sharing the secret');
  t.equal(new ResourceIdCodec(secret).decode(id), undefined, 'an instance that never issued it cannot reverse it');
  t.equal(codec.encode('epic', '.hidden'), codec.encode('epic', '.hidden'));
  t.match(codec.encode('epic', '.hidden'), /^epic\.\./, 'a local id starting with a dot is digested, so `..` is unambiguous');
});

t.test('malformed global ids do not decode', async (t) => {
  const codec = new ResourceIdCodec(secret);
  for (const bad of ['nodot', '.x', 'UPPER.x', 'toolongsourceid-xx.y', 'a.', 'a b.c', `a.${'x'.repeat(64)}`]) {
    t.equal(codec.decode(bad), undefined, bad);
  }
});

const state = (over: Partial<CursorState> = {}): CursorState => ({
  search: searchFingerprint('MedicationRequest?status=active'),
  sourceCount: 20,
  positions: { hospital: { page: 'https://upstream.example/next?token=secret', skip: 3, done: false } },
  back: [],
  offset: 20,
  expires: Date.now() + 60_000,
  ...over,
});

t.test('a sealed cursor opens to the same state and hides what it holds', async (t) => {
  const sealer = new CursorSealer(secret);
  const original = state();
  const token = sealer.seal(original);
  t.notMatch(Buffer.from(token, 'base64url').toString('latin1'), /upstream|secret|hospital/);
  t.same(sealer.open(token, original.search), original);
});

t.test('altered, foreign, misbound or expired cursors are 400s', async (t) => {
  const sealer = new CursorSealer(secret);
  const token = sealer.seal(state());
  const expectBad = (fn: () => unknown, why: RegExp, name: string) => {
    try {
      fn();
      t.fail(name);
    } catch (err) {
      t.ok(err instanceof OperationOutcomeError, name);
      t.match((err as OperationOutcomeError).outcome.issue?.[0]?.details?.text, why, name);
    }
  };
  const raw = Buffer.from(token, 'base64url');
  raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
  expectBad(() => sealer.open(raw.toString('base64url'), state().search), /altered/, 'flipped bit');
  expectBad(() => new CursorSealer('another secret').open(token, state().search), /altered/, 'other server');
  expectBad(() => sealer.open(token, searchFingerprint('Observation?')), /different search/, 'other search');
  expectBad(() => sealer.open(sealer.seal(state({ expires: Date.now() - 1 })), state().search), /expired/, 'expired');
  expectBad(() => sealer.open('%%%', state().search), /malformed/, 'garbage');
});
