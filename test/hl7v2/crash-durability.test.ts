/**
 * Nothing acknowledged is ever lost, nothing is applied twice: a sender streams 10,000 results
 * while the process holding the listener and the store is killed (SIGKILL, twice, mid-stream)
 * and restarted; like an interface engine, the sender resends whatever was not acknowledged.
 * Afterwards every message that got AA is in the store exactly once, and converted exactly once.
 *
 * The acceptance path of this adapter does not use Redis (the inbox is the store, see
 * message-acceptance.ts), so the crash that matters is the one of this process and its store.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Observation } from '@medplum/fhirtypes';
import { freePort } from '../../server/util/free-port.ts';
import { message, msaOf, msh, openSource, pid, RawMllp, seg } from './support/hl7v2-harness.ts';

const TOTAL = 10_000;
const WINDOW = 250;

function result(n: number): string {
  return message([
    msh({ type: 'ORU^R01^ORU_R01', control: `C-${n}`, app: 'LAB' }),
    pid(String(100_000 + (n % 500))),
    seg('OBR', { 1: '1', 3: `F-${n}^LAB`, 4: '2345-7^Glucose^LN', 25: 'F' }),
    seg('OBX', { 1: '1', 2: 'NM', 3: '2345-7^Glucose^LN', 5: String(70 + (n % 50)), 6: 'mg/dL', 11: 'F' }),
  ]);
}

async function startListener(file: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'support', 'listener-process.ts'), file, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
  });
  return child;
}

t.test('10,000 messages streamed across two SIGKILLs: every AA is stored and converted exactly once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-crash-'));
  const file = join(dir, 'store.sqlite');
  const port = await freePort();
  let child = await startListener(file, port);
  t.teardown(() => void child.kill('SIGKILL'));

  const acknowledged = new Set<number>();
  const killAt = [2_500, 6_000];
  let kills = 0;
  while (acknowledged.size < TOTAL) {
    const raw = await RawMllp.open(port);
    const closed = new Promise<void>((resolve) => raw.socket.once('close', () => resolve()));
    // Send every not-yet-acknowledged message, a window at a time, until the connection drops.
    const todo = Array.from({ length: TOTAL }, (_, n) => n).filter((n) => !acknowledged.has(n));
    let received = 0;
    for (let i = 0; i < todo.length; i += WINDOW) {
      const batch = todo.slice(i, i + WINDOW);
      raw.write(Buffer.concat(batch.map((n) => RawMllp.frame(result(n)))));
      const crashNow = kills < killAt.length && acknowledged.size >= killAt[kills]!;
      // A crash strikes while this window is in flight: half acknowledged, the rest maybe committed, maybe not.
      const expected = crashNow ? received + batch.length / 2 : received + batch.length;
      const dropped = await Promise.race([raw.waitFor(expected).then(() => false), closed.then(() => true)]);
      if (crashNow) {
        child.kill('SIGKILL'); // no shutdown: whatever is in flight is lost or half done
        await new Promise((resolve) => child.once('exit', resolve));
        kills++;
      }
      for (const frame of raw.frames.slice(received)) {
        const { code, controlId } = msaOf(frame);
        if (code === 'AA') acknowledged.add(Number(controlId.slice(2)));
        else t.fail(`unexpected ${code} for ${controlId}`);
      }
      received = raw.frames.length;
      if (crashNow) {
        child = await startListener(file, port);
        break;
      }
      if (dropped) break;
    }
    raw.close();
  }
  t.equal(kills, 2, 'the listener was killed twice mid-stream');
  t.equal(acknowledged.size, TOTAL, 'every message eventually acknowledged');
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));

  const db = new DatabaseSync(file, { readOnly: true });
  const rows = db.prepare('SELECT control_id, COUNT(*) AS n FROM inbox GROUP BY control_id').all() as { control_id: string; n: number }[];
  db.close();
  t.equal(rows.length, TOTAL, 'every acknowledged message is in the inbox');
  t.ok(rows.every((r) => Number(r.n) === 1), 'each exactly once');

  // Reopen the store as a source (no listener) and let conversion catch up.
  const s = await openSource({ mllp: false, store: { kind: 'sqlite', file } }, 'hl7-crash');
  t.teardown(() => s.close());
  const observations = (await s.all('Observation')) as Observation[];
  t.equal(observations.length, TOTAL, 'one Observation per message');
  t.equal(new Set(observations.map((o) => o.id)).size, TOTAL, 'no duplicates');
  t.ok(observations.every((o) => o.meta?.versionId === '1'), 'none applied twice');
});
