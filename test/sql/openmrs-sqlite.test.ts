import t from 'tap';
import { runOpenmrsSuite } from './support/openmrs-suite.ts';

t.test('OpenMRS SQL adapter on SQLite (node:sqlite)', (t) => runOpenmrsSuite(t, 'sqlite'));
