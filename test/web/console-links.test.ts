/**
 * The console's link table: the configured links plus what the console linked, minus what it
 * unlinked; the changes are kept in a file, so a restarted node has the table its on-chain
 * commitments were made from.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLinks } from '../../server/web/desks/console-links.ts';

const alice = '0x00000000000000000000000000000000000000a1';
const bob = '0x00000000000000000000000000000000000000b0';
const configured = [
  { patient: alice, sourceId: 'hospital', localId: 'h-1' },
  { patient: bob, sourceId: 'hospital', localId: 'h-2' },
];

t.test('links added and removed by the console survive a restart; the configured ones stay as configured', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'console-links-')), 'console-links.json');
  const before = new ConsoleLinks(configured, file);
  before.add({ patient: alice.toUpperCase().replace('0X', '0x'), sourceId: 'clinic', localId: 'c-9' });
  before.remove({ patient: bob, sourceId: 'hospital', localId: 'h-2' });
  t.equal(before.patientOf('hospital', 'h-2'), undefined, 'an unlinked local id resolves to nobody at once');

  const after = new ConsoleLinks(configured, file);
  t.same(after.linksOf(alice).map((l) => `${l.sourceId}/${l.localId}`), ['hospital/h-1', 'clinic/c-9'], 'the added link is back, in the table the FHIR layer reads');
  t.equal(after.table.patientOf('clinic', 'c-9'), alice);
  t.same(after.linksOf(bob), [], 'the removed configured link stays removed');

  after.add({ patient: bob, sourceId: 'hospital', localId: 'h-2' });
  after.remove({ patient: alice, sourceId: 'clinic', localId: 'c-9' });
  t.same(JSON.parse(readFileSync(file, 'utf8')), { added: [], removed: [] }, 'undoing a change leaves no change behind');
});

t.test('a link to a local id another patient holds is refused, without naming the patient, and nothing is recorded', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'console-links-')), 'console-links.json');
  const links = new ConsoleLinks(configured, file);
  const refusal = (() => {
    try {
      links.add({ patient: bob, sourceId: 'hospital', localId: 'h-1' });
    } catch (error) {
      return (error as Error).message;
    }
  })();
  t.match(refusal, /source "hospital" is linked to two patients/, 'the refusal says which source and why');
  for (const identifier of ['h-1', alice, bob]) t.notOk(refusal?.includes(identifier), 'and names no patient identifier (errors end in logs)');
  t.same(new ConsoleLinks(configured, file).linksOf(bob).map((l) => l.localId), ['h-2']);
});

t.test('a damaged changes file stops the start with a message naming it', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'console-links-')), 'console-links.json');
  writeFileSync(file, JSON.stringify({ added: [{ patient: alice }] }));
  t.throws(() => new ConsoleLinks(configured, file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a link changes file`));
});
