import { Operator } from '@medplum/core';
import t from 'tap';
import { dateBounds, nowColumnValue, parseSearchPeriod, toFhirDateTime } from '../../adapters/sql/fhir-date.ts';
import { WallClock } from '../../adapters/sql/wall-clock.ts';

const UTC = new WallClock('UTC');
const NAIROBI = new WallClock('Africa/Nairobi');
const NEW_YORK = new WallClock('America/New_York');

const iso = (ms: number): string => new Date(ms).toISOString();

t.test('a search date is the whole period of its precision, in its time zone', async (t) => {
  const p = (v: string): [string, string] => {
    const { start, end } = parseSearchPeriod(v, 'date');
    return [iso(start), iso(end)];
  };
  t.same(p('2024'), ['2024-01-01T00:00:00.000Z', '2024-12-31T23:59:59.999Z']);
  t.same(p('2024-02'), ['2024-02-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z'], 'leap February ends on the 29th');
  t.same(p('2024-03-05'), ['2024-03-05T00:00:00.000Z', '2024-03-05T23:59:59.999Z']);
  t.same(p('2024-03-05T10:30'), ['2024-03-05T10:30:00.000Z', '2024-03-05T10:30:59.999Z']);
  t.same(p('2024-03-05T10:30:15+02:00'), ['2024-03-05T08:30:15.000Z', '2024-03-05T08:30:15.999Z']);
  t.same(p('0001-01-01'), ['0001-01-01T00:00:00.000Z', '0001-01-01T23:59:59.999Z'], 'years below 100 stay themselves');
});

t.test('malformed or impossible dates are 400s', async (t) => {
  for (const bad of ['notadate', '2024-13', '2024-02-30', '2024-1-1', "2024' OR '1'='1", '2024-01-01T25:00Z', '', '20240101']) {
    t.throws(() => parseSearchPeriod(bad, 'date'), { name: 'OperationOutcomeError' }, JSON.stringify(bad));
  }
});

t.test('prefixes become half-open bounds on the column grid', async (t) => {
  const jan = parseSearchPeriod('2024-01', 'date');
  t.same(dateBounds(Operator.EQUALS, jan, 'second', UTC), { atLeast: '2024-01-01 00:00:00', below: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.GREATER_THAN, jan, 'second', UTC), { atLeast: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.GREATER_THAN_OR_EQUALS, jan, 'second', UTC), { atLeast: '2024-01-01 00:00:00' });
  t.same(dateBounds(Operator.LESS_THAN, jan, 'second', UTC), { below: '2024-01-01 00:00:00' });
  t.same(dateBounds(Operator.LESS_THAN_OR_EQUALS, jan, 'second', UTC), { below: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.STARTS_AFTER, jan, 'second', UTC), { atLeast: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.ENDS_BEFORE, jan, 'second', UTC), { below: '2024-01-01 00:00:00' });
  const noon = parseSearchPeriod('2024-03-05T12:00:00Z', 'date');
  t.same(dateBounds(Operator.EQUALS, noon, 'date', UTC), { atLeast: '2024-03-05', below: '2024-03-06' }, 'a day overlaps an instant inside it');
  t.same(dateBounds(Operator.GREATER_THAN, noon, 'date', UTC), { atLeast: '2024-03-05' }, 'a day ending after noon is greater');
  t.same(dateBounds(Operator.STARTS_AFTER, noon, 'date', UTC), { atLeast: '2024-03-06' }, 'but only the next day starts after it');
});

t.test('date-time bounds are readings of the database\'s wall clock; date bounds stay calendar dates', async (t) => {
  const jan = parseSearchPeriod('2024-01', 'date');
  t.same(dateBounds(Operator.EQUALS, jan, 'second', NAIROBI), { atLeast: '2024-01-01 03:00:00', below: '2024-02-01 03:00:00' }, 'UTC+3');
  const july = parseSearchPeriod('2024-07-01T12:00:00Z', 'date');
  t.same(dateBounds(Operator.GREATER_THAN_OR_EQUALS, july, 'second', NEW_YORK), { atLeast: '2024-07-01 08:00:00' }, 'New York in summer (UTC-4)');
  t.same(dateBounds(Operator.GREATER_THAN_OR_EQUALS, jan, 'second', NEW_YORK), { atLeast: '2023-12-31 19:00:00' }, 'and in winter (UTC-5)');
  t.same(dateBounds(Operator.EQUALS, jan, 'date', NEW_YORK), { atLeast: '2024-01-01', below: '2024-02-01' }, 'a date column is not shifted');
  const instant = Date.UTC(2024, 6, 1, 12, 0, 0);
  t.equal(nowColumnValue(NAIROBI, instant), '2024-07-01 15:00:00', 'now is read on the same wall clock (UTC+3)');
  t.equal(nowColumnValue(NEW_YORK, instant), '2024-07-01 08:00:00', 'with the offset of that instant (EDT)');
  t.equal(nowColumnValue(NEW_YORK, Date.UTC(2024, 0, 1, 12, 0, 0)), '2024-01-01 07:00:00', '(EST)');
  t.equal(nowColumnValue(UTC, instant), '2024-07-01 12:00:00');
});

t.test('database values render as FHIR dateTimes without the process time zone', async (t) => {
  t.equal(toFhirDateTime('2025-01-10 09:05:00', UTC), '2025-01-10T09:05:00Z');
  t.equal(toFhirDateTime('2025-01-10 09:05:00.123456', UTC), '2025-01-10T09:05:00Z');
  t.equal(toFhirDateTime('2025-01-10', UTC), '2025-01-10');
  t.equal(toFhirDateTime(null, UTC), undefined);
  t.equal(toFhirDateTime('garbage', UTC), undefined);
  t.equal(toFhirDateTime(new Date('2025-01-10T09:05:00Z'), NAIROBI), '2025-01-10T09:05:00Z', 'a value with a time zone is an instant already');
});

t.test('wall-clock readings of a zone become instants, across DST changes', async (t) => {
  t.equal(toFhirDateTime('2025-01-10 09:05:00', NAIROBI), '2025-01-10T06:05:00Z');
  t.equal(toFhirDateTime('2025-01-10 09:05:00', NEW_YORK), '2025-01-10T14:05:00Z', 'EST');
  t.equal(toFhirDateTime('2025-07-10 09:05:00', NEW_YORK), '2025-07-10T13:05:00Z', 'EDT');
  t.equal(toFhirDateTime('2025-01-10', NEW_YORK), '2025-01-10', 'a date stays a date');
  t.equal(toFhirDateTime('2025-03-09 02:30:00', NEW_YORK), '2025-03-09T07:30:00Z', 'a reading skipped by the spring gap: the offset before it');
  t.equal(toFhirDateTime('2025-11-02 01:30:00', NEW_YORK), '2025-11-02T05:30:00Z', 'a repeated reading: the earlier instant');
  t.equal(toFhirDateTime('2025-11-02 03:30:00', NEW_YORK), '2025-11-02T08:30:00Z');
  t.throws(() => new WallClock('Mars/Olympus_Mons'), RangeError, 'an unknown zone is refused');
});
