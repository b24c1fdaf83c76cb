/**
 * The README's promise: `npm start` with no configuration serves a CapabilityStatement and a
 * MedicationRequest searchset for one person merging several providers. This runs the real
 * entry point as a child process (a free port is picked so the issuer URL is known) and talks
 * to it over loopback HTTP, as the demo pharmacy does: SMART Backend Services with its
 * published key, then a search under the seeded on-chain grant.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoPharmacyToken } from '../../server/embedded/demo-pharmacy-token.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { freePort } from '../../server/util/free-port.ts';

t.test('npm start serves metadata and a merged, provenance-tagged MedicationRequest searchset', async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, ['server/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', MEDREC_DATA_DIR: mkdtempSync(join(tmpdir(), 'medrec-e2e-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  // Wait for the banner (bounded by tap's timeout; no timed assertion).
  await new Promise<void>((resolve, reject) => {
    const check = () => (output.includes('MedRec-FHIR is up') ? resolve() : child.exitCode !== null ? reject(new Error(output)) : setTimeout(check, 100));
    check();
  });
  const base = `http://127.0.0.1:${port}`;
  t.match(output, new RegExp(`${port}/fhir/metadata`), 'the banner says where to look');
  t.match(output, /npm run -s demo-token/, 'and how to get a demo token');

  const metadata = await fetch(`${base}/fhir/metadata`, { headers: { accept: 'application/fhir+json' } });
  t.equal(metadata.status, 200);
  t.equal((await metadata.json()).resourceType, 'CapabilityStatement');

  const alice = demoAddress('alice');
  const anonymous = await fetch(`${base}/fhir/MedicationRequest?patient=${alice}`);
  t.equal(anonymous.status, 401, 'records need a token');

  const token = await demoPharmacyToken(base); // what the banner tells a newcomer to run
  const res = await fetch(`${base}/fhir/MedicationRequest?patient=${alice}`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.status, 200);
  const bundle = await res.json();
  t.equal(bundle.type, 'searchset');
  const providers = new Set<string>();
  for (const entry of bundle.entry) {
    t.equal(entry.resource.subject.reference, `Patient/${alice}`);
    const source = entry.resource.meta.source as string;
    const sourceId = source.split('#')[1] as string;
    t.ok(entry.resource.id.startsWith(`${sourceId}.`), 'id prefix and meta.source agree');
    providers.add(source);
  }
  t.ok(providers.size >= 2, `records from ${providers.size} providers`);
  t.ok(providers.has(`urn:medrec:provider:${demoAddress('hospital')}#hospital`));
  t.ok(providers.has(`urn:medrec:provider:${demoAddress('pharmacy-records')}#pharmacy-records`));

  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 200);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM shuts down cleanly');
});
