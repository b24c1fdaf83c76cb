/**
 * ER7 parsing (1-based positions, the message's own delimiters, escapes decoded at the leaves)
 * and HL7 date/times to FHIR (precision and zone kept, dates never shifted through UTC).
 */
import t from 'tap';
import { decodeMessageBytes, escapeEr7, parseEr7, unescapeEr7 } from '../../adapters/hl7v2/er7.ts';
import { hl7ToFhirDate, hl7ToFhirDateTime, hl7ToFhirInstant } from '../../adapters/hl7v2/hl7-datetime.ts';

t.test('positions are 1-based for field, repetition, component and subcomponent; MSH follows HL7 numbering', async (t) => {
  const m = parseEr7('MSH|^~\\&|APP|FAC|||20250101||ADT^A01^ADT_A01|CTRL1|P|2.5.1\rPID|1||A1^^^HOSP&1.2.3&ISO^MR~B2^^^OTHER^PI||Doe^Jane\r');
  t.equal(m.msh.get(1), '|');
  t.equal(m.msh.get(2), '^~\\&');
  t.equal(m.msh.get(3), 'APP');
  t.same(m.messageType, { code: 'ADT', trigger: 'A01', structure: 'ADT_A01' });
  t.equal(m.controlId, 'CTRL1');
  const pid = m.segment('PID')!;
  t.equal(pid.get(3, 4, 2), '1.2.3', 'subcomponent 2 of component 4');
  t.equal(pid.repetitions(3)[1]?.get(1), 'B2', 'second repetition');
  t.equal(pid.get(99), '', 'absent field is empty, not an exception');
  t.equal(m.segment('OBX'), undefined);
});

t.test('escapes are decoded after splitting, with the message’s own delimiters', async (t) => {
  const m = parseEr7('MSH#$*!@#A#B\rNTE#1##a!F!b!S!c!T!d!R!e!E!f!.br!g!H!bold!N!!X41!#x$y*z\r');
  const nte = m.segment('NTE')!;
  t.equal(nte.get(3), 'a#b$c@d*e!f\ngboldA', 'custom delimiters # $ * ! @ and their escapes, hex included');
  t.equal(nte.repetitions(3)[0]?.components.length, 1, 'an escaped separator does not split');
  t.equal(nte.get(4, 2), 'y');
  t.equal(nte.repetitions(4)[1]?.get(1), 'z');
  const d = m.delimiters;
  t.equal(unescapeEr7(escapeEr7('a|b^c&d~e\\f', { ...d, field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' }), { field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' }), 'a|b^c&d~e\\f', 'escape and unescape round-trip');
  t.equal(unescapeEr7('50\\Xe9\\', { field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' }), '50é', 'invalid UTF-8 hex read as Latin-1');
  t.equal(unescapeEr7('a\\', { field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' }), 'a\\', 'unterminated escape kept as data');
  t.equal(unescapeEr7('a\\X00\\b\\X0A\\c', { field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' }), 'ab\nc', 'control characters dropped, line feed kept');
});

t.test('a UTF-8 character split across hex escapes survives; what is not an escape is kept as written', async (t) => {
  const d = { field: '|', component: '^', subcomponent: '&', repetition: '~', escape: '\\' };
  t.equal(unescapeEr7('Z\\XC3\\\\XAB\\', d), 'Zë', 'consecutive \\X..\\ escapes are one byte sequence');
  t.equal(unescapeEr7('\\XC3\\x\\XAB\\', d), 'Ãx«', 'bytes separated by text are decoded apart');
  t.equal(unescapeEr7('C:\\path\\file', d), 'C:\\path\\file', 'an unescaped backslash path is data');
  t.equal(unescapeEr7('\\X0\\ \\Xzz\\', d), '\\X0\\ \\Xzz\\', 'malformed hex is data');
  t.equal(unescapeEr7('a\\.in+4\\b\\.ce\\c\\C2842\\d\\Zlocal\\e', d), 'abcde', 'formatting, charset switches and local escapes dropped');
});

t.test('segment separators CR, LF and CRLF; bad headers are refused', async (t) => {
  for (const sep of ['\r', '\n', '\r\n']) {
    t.equal(parseEr7(['MSH|^~\\&|A', 'PID|1', 'PV1|1'].join(sep)).segments.length, 3);
  }
  t.throws(() => parseEr7('PID|1'), /MSH/);
  t.throws(() => parseEr7('MSH|^^\\&|A'), /encoding characters/);
});

t.test('message bytes are decoded by MSH-18', async (t) => {
  const latin1 = Buffer.from('MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5||||||8859/1\rPID|1||1||M\xfcller\r', 'latin1');
  t.match(decodeMessageBytes(latin1), /Müller/);
  const utf8 = Buffer.from('MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5\rPID|1||1||Zoë\r', 'utf8');
  t.match(decodeMessageBytes(utf8), /Zoë/);
});

t.test('date/times keep precision and zone', async (t) => {
  t.equal(hl7ToFhirDate('19800302'), '1980-03-02');
  t.equal(hl7ToFhirDate('198003'), '1980-03');
  t.equal(hl7ToFhirDate('1980'), '1980');
  t.equal(hl7ToFhirDate('19800230'), undefined, 'no February 30');
  t.equal(hl7ToFhirDateTime('19800302', 'Pacific/Kiritimati'), '1980-03-02', 'a date is never moved by a zone');
  t.equal(hl7ToFhirDateTime('202503011015-0500', 'UTC'), '2025-03-01T10:15:00-05:00', 'own offset wins, seconds added');
  t.equal(hl7ToFhirDateTime('20250301101530.1234+0530', 'UTC'), '2025-03-01T10:15:30.1234+05:30');
  t.equal(hl7ToFhirDateTime('2025030110', 'America/New_York'), '2025-03-01T10:00:00-05:00', 'EST in March before DST');
  t.equal(hl7ToFhirDateTime('2025070110', 'America/New_York'), '2025-07-01T10:00:00-04:00', 'EDT in July');
  t.equal(hl7ToFhirDateTime('20250701100000', 'UTC'), '2025-07-01T10:00:00Z');
  t.equal(hl7ToFhirDateTime('20250701250000', 'UTC'), undefined, 'hour 25 refused');
  t.equal(hl7ToFhirDateTime('20250701100000+9999', 'UTC'), undefined, 'an offset no zone has refused');
  t.equal(hl7ToFhirDateTime('20250701100000+1460', 'UTC'), undefined, 'offset minutes above 59 refused');
  t.equal(hl7ToFhirDateTime('20250701100000+1400', 'UTC'), '2025-07-01T10:00:00+14:00', 'the easternmost zone is fine');
  t.equal(hl7ToFhirDateTime('not a date', 'UTC'), undefined);
  t.equal(hl7ToFhirInstant('20250701', 'UTC'), undefined, 'an instant needs a time');
});
