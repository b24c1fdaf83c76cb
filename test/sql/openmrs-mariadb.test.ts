import t from 'tap';
import { runOpenmrsSuite } from './support/openmrs-suite.ts';

t.test('OpenMRS SQL adapter on MariaDB', (t) => runOpenmrsSuite(t, 'mariadb'));
