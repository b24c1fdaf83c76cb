/**
 * The MLLP listener as an interface engine sees it, through @medplum/hl7's Hl7Client and a raw
 * socket: AA only for durably accepted messages, AE/AR with ERR for bad ones, duplicates
 * acknowledged but applied once, enhanced mode, framing errors and slow senders.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Patient } from '@medplum/fhirtypes';
import { client, localId, message, msaOf, msh, openSource, pid, RawMllp, sendWithClient, seg } from './support/hl7v2-harness.ts';

const adt = (control: string, mrn = '1001', extra: Record<number, string> = {}): string =>
  message([msh({ type: 'ADT^A01^ADT_A01', control }), pid(mrn, extra), seg('PV1', { 1: '1', 2: 'I', 19: `V-${mrn}` })]);

t.test('MLLP acknowledgements', async (t) => {
  // No fallback look at the store within the test: on one node, every ACK comes from what the
  // node knows (its acceptance, its converter's outcomes, the store read for a resend).
  const s = await openSource({ maxFrameBytes: 64 * 1024, storePollMs: 600_000 });
  t.teardown(() => s.close());
  const hl7 = client(s.port);
  t.teardown(() => hl7.close());

  t.test('AA once accepted; the message is then in the store and converted', async (t) => {
    const ack = await sendWithClient(hl7, adt('OK-1'));
    t.equal(ack.code, 'AA');
    t.match(ack.ack, /^MSH\|\^~\\&\|MEDREC\|MEDREC\|TESTADT\|TESTHOSP\|/, 'sender and receiver swapped');
    t.match(ack.ack, /\|ACK\^A01\^ACK\|/);
    t.match(ack.ack, /MSA\|AA\|OK-1/);
    const patients = (await s.all('Patient')) as Patient[];
    t.same(patients.map((p) => p.id), [localId('1001')]);
  });

  t.test('a resent message (same sender, MSH-10 and content) gets AA and is not applied twice', async (t) => {
    const before = (await s.all('Patient'))[0]!.meta?.versionId;
    const resent = adt('OK-1').replace('20250101120000-0500', '20250101120500-0500');
    t.not(resent, adt('OK-1'), 'restamped MSH-7, as some engines do on resend');
    const ack = await sendWithClient(hl7, resent);
    t.equal(ack.code, 'AA');
    t.match(ack.text, /duplicate/);
    const after = (await s.all('Patient')) as Patient[];
    t.equal(after[0]!.meta?.versionId, before, 'not applied again');
  });

  t.test('a different message reusing an MSH-10 of the same sender gets AE 205 and a dead letter', async (t) => {
    const before = (await s.all('Patient'))[0]!.meta?.versionId;
    const ack = await sendWithClient(hl7, adt('OK-1', '1001', { 5: 'Changed^Name' }));
    t.equal(ack.code, 'AE');
    t.match(ack.err, /^ERR\|\|MSH\^1\^10\|205\^control id \(MSH-10\) reused: this sender already sent a different message with this control id; not accepted/);
    t.match(ack.text, /control id \(MSH-10\) reused/, 'MSA-3 says the same');
    const explanation = ack.ack.split('\r').filter((line) => /^(MSA|ERR)\|/.test(line)).join('\r');
    t.notMatch(explanation, /Changed|Doe|1001/, 'nothing of either message in the explanation');
    const after = (await s.all('Patient')) as Patient[];
    t.equal(after[0]!.meta?.versionId, before, 'not applied');
    t.equal(after[0]!.name?.[0]?.family, 'Doe');
    const letters = (await s.source.store.deadLetters({ limit: 100 })).filter((l) => l.controlId === 'OK-1');
    t.equal(letters.length, 1);
    t.match(letters[0]!.reason, /^AE 205 at MSH\^1\^10/);
    t.match(letters[0]!.raw, /Changed\^Name/, 'the refused message is kept for review');
  });

  t.test('the same MSH-10 from another sender is another message', async (t) => {
    const other = await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'OK-1', app: 'OTHERAPP' }), pid('1001')]));
    t.equal(other.code, 'AA', 'the same MSH-10 from another sender is a different message');
    t.notMatch(other.text, /duplicate/);
  });

  t.test('AR with ERR for unsupported types, events, processing ids and versions', async (t) => {
    const cases: [string, string, string][] = [
      [message([msh({ type: 'SIU^S12^SIU_S12', control: 'R-1' }), pid('1')]), '200', 'SIU'],
      [message([msh({ type: 'ADT^A99^ADT_A01', control: 'R-2' }), pid('1')]), '201', 'A99'],
      [message([msh({ type: 'ADT^A01^ADT_A01', control: 'R-3', processing: 'T' }), pid('1')]), '202', 'processing'],
      [message([msh({ type: 'ADT^A01^ADT_A01', control: 'R-4', version: '3.0' }), pid('1')]), '203', 'version'],
    ];
    for (const [text, code, word] of cases) {
      const ack = await sendWithClient(hl7, text);
      t.equal(ack.code, 'AR', `AR for ${word}`);
      t.match(ack.err, new RegExp(`\\|${code}\\^[^|]*${word}[^|]*\\^HL70357\\|E\\|`), `ERR-3 code ${code}, severity E`);
    }
  });

  t.test('AE with ERR location for missing required content; it is dead-lettered with its reason', async (t) => {
    const noId = await sendWithClient(hl7, message([msh({ type: 'ADT^A01^ADT_A01', control: 'E-1' }), seg('PID', { 1: '1', 5: 'No^Identifier' })]));
    t.equal(noId.code, 'AE');
    t.match(noId.err, /^ERR\|\|PID\^1\^3\|101\^/);
    const noMrg = await sendWithClient(hl7, message([msh({ type: 'ADT^A40^ADT_A39', control: 'E-2' }), pid('1')]));
    t.equal(noMrg.code, 'AE');
    t.match(noMrg.err, /MRG\^1\^1\|101/);
    const noRx = await sendWithClient(hl7, message([msh({ type: 'RDE^O11^RDE_O11', control: 'E-3' }), pid('1'), seg('ORC', { 1: 'NW' })]));
    t.equal(noRx.code, 'AE');
    t.match(noRx.err, /RXE/);
    const twoMerges = await sendWithClient(hl7, message([msh({ type: 'ADT^A40^ADT_A39', control: 'E-4' }), pid('1'), seg('MRG', { 1: '2^^^TESTHOSP^MR' }), pid('3'), seg('MRG', { 1: '4^^^TESTHOSP^MR' })]));
    t.equal(twoMerges.code, 'AE', 'several patients in one A40 refused, not half applied');
    t.match(twoMerges.err, /PID\^2\|100\^one patient per ADT message/);
    const letters = await s.source.store.deadLetters({ limit: 100 });
    const e1 = letters.find((l) => l.controlId === 'E-1');
    t.ok(e1, 'dead letter kept');
    t.match(e1!.reason, /AE 101 at PID\^1\^3/);
    t.match(e1!.raw, /No\^Identifier/, 'with the raw message');
  });

  t.test('v2.3 senders get the v2.3 ERR-1 form', async (t) => {
    const ack = await sendWithClient(hl7, message([msh({ type: 'ADT^A01^ADT_A01', control: 'E-23', version: '2.3' }), seg('PID', { 1: '1' })]));
    t.equal(ack.code, 'AE');
    t.match(ack.err, /^ERR\|PID\^1\^3\^101&/);
  });

  t.test('enhanced mode: CA after durable acceptance, then AA after conversion', async (t) => {
    const text = message([msh({ type: 'ADT^A01^ADT_A01', control: 'ENH-1', acceptAck: 'AL', appAck: 'AL' }), pid('1002'), seg('PV1', { 1: '1', 2: 'O' })]);
    const raw = await RawMllp.open(s.port);
    t.teardown(() => raw.close());
    raw.write(RawMllp.frame(text));
    await raw.waitFor(2);
    t.same(raw.frames.map((f) => msaOf(f)), [{ code: 'CA', controlId: 'ENH-1' }, { code: 'AA', controlId: 'ENH-1' }]);
    // Accept NE + application AL: only the application ACK.
    raw.write(RawMllp.frame(message([msh({ type: 'ADT^A08^ADT_A01', control: 'ENH-2', acceptAck: 'NE', appAck: 'AL' }), pid('1002')])));
    await raw.waitFor(3);
    t.same(msaOf(raw.frames[2]!), { code: 'AA', controlId: 'ENH-2' });
    // Hl7Client waiting for the application ACK skips the CA.
    const ack = await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'ENH-3', acceptAck: 'AL', appAck: 'AL' }), pid('1002')]), 'application');
    t.equal(ack.code, 'AA');
    const refused = await sendWithClient(hl7, message([msh({ type: 'ORU^R01^ORU_R01', control: 'ENH-4', acceptAck: 'AL', appAck: 'AL' }), pid('1002')]));
    t.equal(refused.code, 'CE', 'content error refused at accept level');
  });

  t.test('enhanced mode: a resent message gets CA, then the application ACK its original earned (AA, or AE with the same ERR)', async (t) => {
    const raw = await RawMllp.open(s.port);
    t.teardown(() => raw.close());
    const oru = (control: string, mrn: string, time?: string): string => message([
      msh({ type: 'ORU^R01^ORU_R01', control, acceptAck: 'AL', appAck: 'AL', ...(time ? { time } : {}) }), pid(mrn),
      seg('OBR', { 1: '1', 3: 'DUP-ACC^LAB', 4: '2345-7^Glucose^LN', 25: 'F' }), 'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F',
    ]);
    const errOf = (frame: string): string | undefined => frame.split('\r').find((line) => line.startsWith('ERR|'));
    raw.write(RawMllp.frame(oru('DUP-1', '1101')));
    await raw.waitFor(2);
    // The same accession for another patient: accepted, then refused by conversion (AE 205).
    raw.write(RawMllp.frame(oru('DUP-2', '1102')));
    await raw.waitFor(4);
    t.same(raw.frames.map(msaOf), ['CA', 'AA', 'CA', 'AE'].map((code, i) => ({ code, controlId: i < 2 ? 'DUP-1' : 'DUP-2' })), 'the originals');
    t.match(errOf(raw.frames[3]!), /\|205\^/);
    await s.source.drain();
    const letters = (await s.source.store.deadLetters({ limit: 100 })).filter((l) => l.controlId === 'DUP-2').length;

    // Resent long after conversion (MSH-7 restamped): nothing announces their outcomes again.
    raw.write(RawMllp.frame(oru('DUP-1', '1101', '20250101130000-0500')));
    await raw.waitFor(6);
    t.same(raw.frames.slice(4).map(msaOf), [{ code: 'CA', controlId: 'DUP-1' }, { code: 'AA', controlId: 'DUP-1' }], 'a resent success: CA, then AA');
    t.match(raw.frames[4], /\rMSA\|CA\|DUP-1\|duplicate/, 'the accept ACK says it is a duplicate');
    raw.write(RawMllp.frame(oru('DUP-2', '1102', '20250101130000-0500')));
    await raw.waitFor(8);
    t.same(raw.frames.slice(6).map(msaOf), [{ code: 'CA', controlId: 'DUP-2' }, { code: 'AE', controlId: 'DUP-2' }], 'a resent failure: CA, then AE, not a fresh AA');
    t.equal(errOf(raw.frames[7]!), errOf(raw.frames[3]!), 'with the ERR its original got');

    await s.source.drain();
    t.equal((await s.source.store.deadLetters({ limit: 100 })).filter((l) => l.controlId === 'DUP-2').length, letters, 'not converted again');
  });

  t.test('framing: bytes outside frames ignored, interrupted and non-HL7 frames get AR, oversized frames AR, one ACK per frame', async (t) => {
    const raw = await RawMllp.open(s.port);
    t.teardown(() => raw.close());
    raw.write(Buffer.concat([
      Buffer.from('garbage before any frame\r\n'),
      RawMllp.frame(adt('F-1', '1003')),
      Buffer.from([0x0b]), Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A01|F-2|P|2.5.1\rPID|1||'), // interrupted by the next start block
      RawMllp.frame(adt('F-3', '1003')),
      RawMllp.frame('this is not HL7 at all'),
      RawMllp.frame(''),
      RawMllp.frame(`${adt('F-4', '1003')}${'OBX|1|ST|x||'.padEnd(70 * 1024, 'y')}\r`),
      RawMllp.frame(adt('F-5', '1003')),
    ]));
    await raw.waitFor(7);
    const acks = raw.frames.map(msaOf);
    t.same(acks.map((a) => a.code), ['AA', 'AR', 'AA', 'AR', 'AR', 'AR', 'AA']);
    t.same(acks.map((a) => a.controlId), ['F-1', 'F-2', 'F-3', '', '', '', 'F-5'], 'MSA-2 salvaged from an interrupted header');
    t.match(raw.frames[1], /interrupted/);
    t.match(raw.frames[5], /exceeds/);
  });

  t.test('an ACK sent to the listener (acknowledging our application ACK) is taken silently, never answered', async (t) => {
    const raw = await RawMllp.open(s.port);
    t.teardown(() => raw.close());
    const lettersBefore = (await s.source.store.deadLetters({ limit: 1000 })).length;
    raw.write(Buffer.concat([
      RawMllp.frame(message([msh({ type: 'ACK^A01^ACK', control: 'THEIR-ACK-1' }), 'MSA|AA|ENH-1'])),
      RawMllp.frame(adt('AFTER-ACK', '1003')),
    ]));
    await raw.waitFor(1);
    t.same(raw.frames.map(msaOf), [{ code: 'AA', controlId: 'AFTER-ACK' }], 'only the message after it is acknowledged');
    t.equal((await s.source.store.deadLetters({ limit: 1000 })).length, lettersBefore, 'not a dead letter either');
  });

  t.test('a slow sender dribbling one byte at a time and CR/LF/CRLF separators are all fine', async (t) => {
    const raw = await RawMllp.open(s.port);
    t.teardown(() => raw.close());
    const frame = RawMllp.frame(adt('SLOW-1', '1004'));
    for (const byte of frame) {
      raw.write(Buffer.from([byte]));
      await sleep(1);
    }
    await raw.waitFor(1);
    t.same(msaOf(raw.frames[0]!), { code: 'AA', controlId: 'SLOW-1' });
    for (const [i, sep] of (['\n', '\r\n'] as const).entries()) {
      const text = message([msh({ type: 'ADT^A08^ADT_A01', control: `SEP-${i}` }), pid('1004', { 5: `Sep${i}^Test` })], sep);
      raw.write(RawMllp.frame(text));
    }
    await raw.waitFor(3);
    t.same(raw.frames.slice(1).map((f) => msaOf(f).code), ['AA', 'AA']);
    const patient = ((await s.all('Patient')) as Patient[]).find((p) => p.id === localId('1004'))!;
    t.equal(patient.name?.[0]?.family, 'Sep1', 'segments split on LF and CRLF');
  });

  t.test('ISO 8859-1 messages (MSH-18) are decoded as Latin-1 and answered in it', async (t) => {
    const text = message([msh({ type: 'ADT^A08^ADT_A01', control: 'L1-1', charset: '8859/1' }), pid('1005', { 5: 'Müller^Zoë' })]);
    const latin1 = client(s.port, 'latin1');
    t.teardown(() => latin1.close());
    const ack = await sendWithClient(latin1, text);
    t.equal(ack.code, 'AA');
    const patient = ((await s.all('Patient')) as Patient[]).find((p) => p.id === localId('1005'))!;
    t.same(patient.name?.[0], { family: 'Müller', given: ['Zoë'] });
    const hex = await sendWithClient(hl7, message([msh({ type: 'ADT^A08^ADT_A01', control: 'HEX-1' }), pid('1005', { 5: 'M\\XC3BC\\ller^Zo\\XC3AB\\' })]));
    t.equal(hex.code, 'AA');
    const again = ((await s.all('Patient')) as Patient[]).find((p) => p.id === localId('1005'))!;
    t.same(again.name?.[0], { family: 'Müller', given: ['Zoë'] }, '\\X..\\ hex escapes decoded as UTF-8');
  });

  t.test('health reports the feed lag and backlog', async (t) => {
    const health = await s.source.health(new AbortController().signal);
    t.equal(health.status, 'up');
    t.type(health.lagSeconds, 'number');
    t.match(health.detail, /0 awaiting conversion/);
  });
});
