/**
 * The web apps' backend routes take only tokens issued to their own app: a token the user gave
 * another SMART app (one that reads records, say) opens neither the patient routes nor the
 * provider console, whose actions the node signs with its provider keys.
 */
import t from 'tap';
import Fastify from 'fastify';
import { WEB_CLIENT_IDS, webApps } from '../../server/web/web-apps.ts';

const subject = '0x00000000000000000000000000000000000000aa';

t.test('each BFF accepts its own app’s token and refuses every other app’s', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  // The token's text names the app it was issued to; the routes see only what verification returns.
  await app.register(webApps, {
    fhirBase: 'http://127.0.0.1/fhir',
    build: false,
    verifyToken: async (token) => ({ subject, clientId: token, scope: 'openid fhirUser' }),
    demo: { identities: [], signTypedData: async () => undefined },
  });
  const call = (url: string, clientId: string, method: 'GET' | 'POST' = 'GET') =>
    app.inject({ method, url, headers: { authorization: `Bearer ${clientId}` }, ...(method === 'POST' ? { payload: {} } : {}) });

  // No desks are configured: an accepted token reaches the route and hears 503 (or 400 for the empty body).
  t.equal((await call('/web/api/patient/network', WEB_CLIENT_IDS.patient)).statusCode, 503, 'patient app token: reaches the patient routes');
  t.equal((await call('/web/api/provider/network', WEB_CLIENT_IDS.provider)).statusCode, 503, 'provider console token: reaches the provider routes');
  t.equal((await call('/web/api/demo-wallet/sign-typed-data', WEB_CLIENT_IDS.patient, 'POST')).statusCode, 400, 'patient app token: reaches the demo wallet');

  for (const other of ['medrec-demo-patient-app', 'some-pharmacy-backend']) {
    t.equal((await call('/web/api/patient/network', other)).statusCode, 401, `${other}: refused by the patient routes`);
    t.equal((await call('/web/api/provider/network', other)).statusCode, 401, `${other}: refused by the provider routes`);
    t.equal((await call('/web/api/demo-wallet/sign-typed-data', other, 'POST')).statusCode, 401, `${other}: refused by the demo wallet`);
  }
  t.equal((await call('/web/api/provider/network', WEB_CLIENT_IDS.patient)).statusCode, 401, 'the patient app’s token does not open the provider console');
  t.equal((await call('/web/api/patient/network', WEB_CLIENT_IDS.provider)).statusCode, 401, 'the provider console’s token does not open the patient routes');
});
