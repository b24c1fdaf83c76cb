import { Operator } from '@medplum/core';
import t from 'tap';
import { dateBounds, parseSearchPeriod, toFhirDateTime } from '../../adapters/sql/fhir-date.ts';

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
  t.same(dateBounds(Operator.EQUALS, jan, 'second'), { atLeast: '2024-01-01 00:00:00', below: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.GREATER_THAN, jan, 'second'), { atLeast: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.GREATER_THAN_OR_EQUALS, jan, 'second'), { atLeast: '2024-01-01 00:00:00' });
  t.same(dateBounds(Operator.LESS_THAN, jan, 'second'), { below: '2024-01-01 00:00:00' });
  t.same(dateBounds(Operator.LESS_THAN_OR_EQUALS, jan, 'second'), { below: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.STARTS_AFTER, jan, 'second'), { atLeast: '2024-02-01 00:00:00' });
  t.same(dateBounds(Operator.ENDS_BEFORE, jan, 'second'), { below: '2024-01-01 00:00:00' });
  const noon = parseSearchPeriod('2024-03-05T12:00:00Z', 'date');
  t.same(dateBounds(Operator.EQUALS, noon, 'date'), { atLeast: '2024-03-05', below: '2024-03-06' }, 'a day overlaps an instant inside it');
  t.same(dateBounds(Operator.GREATER_THAN, noon, 'date'), { atLeast: '2024-03-05' }, 'a day ending after noon is greater');
  t.same(dateBounds(Operator.STARTS_AFTER, noon, 'date'), { atLeast: '2024-03-06' }, 'but only the next day starts after it');
});

t.test('database values render as FHIR dateTimes without the process time zone', async (t) => {
  t.equal(toFhirDateTime('2025-01-10 09:05:00'), '2025-01-10T09:05:00Z');
  t.equal(toFhirDateTime('2025-01-10 09:05:00.123456'), '2025-01-10T09:05:00Z');
  t.equal(toFhirDateTime('2025-01-10'), '2025-01-10');
  t.equal(toFhirDateTime(null), undefined);
  t.equal(toFhirDateTime('garbage'), undefined);
});
