/**
 * Record-change notifications are batched: a burst of messages about a few patients raises one
 * call naming each changed patient once, not one call per message; unchanged records raise none.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { localId, message, msh, openSource, pid, seg } from './support/hl7v2-harness.ts';

t.test('a burst of 60 messages about 3 patients raises one batched notification', async (t) => {
  const s = await openSource({ mllp: false, notifyIntervalMs: 200 });
  t.teardown(() => s.close());
  const burst = Array.from({ length: 60 }, (_, n) =>
    message([
      msh({ type: 'ORU^R01^ORU_R01', control: `N-${n}` }),
      pid(String(6000 + (n % 3))),
      seg('OBR', { 1: '1', 3: `F-${n}^LAB`, 4: '2345-7^Glucose^LN', 25: 'F' }),
      seg('OBX', { 1: '1', 2: 'NM', 3: '2345-7^Glucose^LN', 5: String(n), 11: 'F' }),
    ]),
  );
  await s.source.acceptText(burst.join(''));
  for (let i = 0; i < 200 && s.changes.length === 0; i++) await sleep(25);
  t.same(s.changes, [[6000, 6001, 6002].map((n) => localId(String(n)))], 'one call, each patient once');

  // The same messages again are duplicates: nothing changes, nothing is notified.
  await s.source.acceptText(burst.join(''));
  await s.source.drain();
  t.equal(s.changes.length, 1, 'duplicates raise no notification');
});
