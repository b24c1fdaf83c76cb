/**
 * `medrec hl7 dead-letters list | show | replay` against a live source's SQLite store.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEr7 } from '../../adapters/hl7v2/er7.ts';
import { contentHash } from '../../adapters/hl7v2/message-acceptance.ts';
import { runCli } from '../../server/cli/medrec.ts';
import { localId, message, msh, openSource, pid, seg } from './support/hl7v2-harness.ts';

t.test('dead letters are listed without content, shown on request, and replayed', async (t) => {
  const s = await openSource({ mllp: false });
  t.teardown(() => s.close());
  const file = join(s.dir, 'hl7v2', 'hl7-test.sqlite');
  const sources = join(s.dir, 'sources.json');
  const sourceOptions = { mllp: false, store: { kind: 'sqlite', file } };
  const writeSources = (processingIds: string[]): void =>
    writeFileSync(sources, JSON.stringify({ sources: [{ id: 'hl7-test', kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000001', name: 'Test', options: { ...sourceOptions, processingIds } }] }));
  writeSources(['P']);
  const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runCli(['hl7', 'dead-letters', ...args, '--sources', sources], { env: {}, write: (x) => (out += x), error: (x) => (err += x) });
    return { code, out, err };
  };

  // A training message (MSH-11 T) refused at acceptance, and one accepted long ago under looser
  // rules that conversion cannot handle (no PID), put straight into the inbox.
  const training = message([msh({ type: 'ADT^A01^ADT_A01', control: 'TRAIN-1', processing: 'T' }), pid('7001', { 5: 'Secret^Name' }), seg('PV1', { 1: '1', 2: 'O' })]);
  const [refused] = await s.source.acceptText(training);
  t.equal(refused?.kind, 'refused');
  const old = message([msh({ type: 'ADT^A08^ADT_A01', control: 'OLD-1' }), 'EVN|A08']);
  await s.source.store.accept([{ sender: 'OLD|SYS', controlId: 'OLD-1', raw: old, receivedAt: new Date().toISOString(), contentHash: contentHash(parseEr7(old)) }]);
  await s.source.drain();

  const listed = await cli('list', '--json');
  t.equal(listed.code, 0, listed.err);
  const letters = JSON.parse(listed.out) as { id: number; stage: string; controlId: string; reason: string; raw?: string }[];
  t.same(letters.map((l) => [l.stage, l.controlId]), [['acceptance', 'TRAIN-1'], ['conversion', 'OLD-1']]);
  t.match(letters[0]!.reason, /AR 202 at MSH\^1\^11/);
  t.match(letters[1]!.reason, /AE 101 at PID\^1\^3/);
  t.notOk(letters.some((l) => 'raw' in l), 'listing carries no message content');

  const human = await cli('list');
  t.match(human.out, /#1 .* acceptance .* MSH-10 TRAIN-1 .* AR 202/);
  t.notMatch(human.out, /Secret/, 'no PHI in the listing');

  const shown = await cli('show', String(letters[0]!.id));
  t.match(shown.out, /Secret\^Name/, 'show prints the raw message');

  const stillRefused = await cli('replay', String(letters[0]!.id));
  t.equal(stillRefused.code, 1);
  t.match(stillRefused.out, /refused: AR 202/);

  writeSources(['P', 'T']); // the operator now accepts training messages
  const replayed = await cli('replay', '--all');
  t.equal(replayed.code, 0, replayed.err);
  t.match(replayed.out, new RegExp(`#${letters[0]!.id} accepted`));
  t.match(replayed.out, new RegExp(`#${letters[1]!.id} requeued`));
  await s.source.drain();
  t.ok((await s.all('Patient')).some((p) => p.id === localId('7001')), 'the replayed message was converted by the running worker');

  const after = JSON.parse((await cli('list', '--json')).out) as { controlId: string; stage: string }[];
  t.same(after.map((l) => [l.stage, l.controlId]), [['conversion', 'OLD-1']], 'the requeued message failed again: a new dead letter');
  const again = await cli('replay', String(letters[0]!.id));
  t.match(again.out, /already-replayed/);
  const missing = await cli('replay', '999');
  t.equal(missing.code, 1);
  t.match(missing.out, /not-found/);
});
