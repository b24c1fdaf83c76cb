/**
 * MLLP over TLS: with `mllp.tls` the listener speaks TLS (certificate from PEM files); frames and
 * ACKs are the same inside the encrypted stream.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { localId, message, msaOf, msh, openSource, pid, RawMllp } from './support/hl7v2-harness.ts';

t.test('a sender on TLS gets its AA, and the record is stored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const s = await openSource({ mllp: { port: 0, tls: { keyFile, certFile } } });
  t.teardown(() => s.close());

  const socket = connect({ host: '127.0.0.1', port: s.port, ca: readFileSync(certFile) });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
  t.teardown(() => socket.destroy());
  let received = Buffer.alloc(0);
  const ack = new Promise<string>((resolve) => socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    const end = received.indexOf(0x1c);
    if (end !== -1) resolve(received.subarray(1, end).toString('utf8'));
  }));
  socket.write(RawMllp.frame(message([msh({ type: 'ADT^A08^ADT_A01', control: 'TLS-1' }), pid('4242')])));
  t.same(msaOf(await ack), { code: 'AA', controlId: 'TLS-1' });
  t.same((await s.all('Patient')).map((p) => p.id), [localId('4242')]);
});

t.test('a TLS option pointing at a missing file is a clear configuration error', async (t) => {
  await t.rejects(openSource({ mllp: { port: 0, tls: { keyFile: '/nonexistent/key.pem', certFile: '/nonexistent/cert.pem' } } }), /options\.mllp\.tls\.keyFile: cannot read/);
});
