import t from 'tap';
import { runOpenmrsSuite } from './support/openmrs-suite.ts';

t.test('OpenMRS SQL adapter on PostgreSQL', (t) => runOpenmrsSuite(t, 'postgres'));
