/** The patient app: sign in, then see and control who reads my records. */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import '../../shared/src/styles.css';
import { api } from '../../shared/src/api.ts';
import type { PatientNetwork, WebConfig } from '../../shared/src/api-types.ts';
import type { SmartSession } from '../../shared/src/smart-login.ts';
import { SignIn } from '../../shared/src/sign-in.tsx';
import { Button, Loading, Problem, Tabs, shortAddress, useHashRoute, useLoad } from '../../shared/src/ui.tsx';
import { browserWallet, demoSigner, type Signer } from '../../shared/src/wallet.ts';
import { useWebSession } from '../../shared/src/web-session.ts';
import { AccessLog } from './access-log.tsx';
import { NetworkScreen, NO_SIGNER_NOTE } from './network.tsx';
import { Notifications, useNotifications } from './notifications.tsx';
import { Records } from './records.tsx';
import { Requests } from './requests.tsx';
import { Share } from './share.tsx';

const SIGNER_KEY = 'medrec.patient.signer';
const SCOPE = 'openid fhirUser launch/patient patient/*.rs';

function PatientSignIn({ config, error }: { config: WebConfig; error?: string | undefined }) {
  return (
    <SignIn
      app="patient"
      config={config}
      error={error}
      scope={SCOPE}
      heading="Your records, your say"
      intro={<>
        <p>See which providers hold records about you, choose who may read them, and see every time someone did.</p>
        <p>You sign in with an Ethereum wallet. No fees: your choices are signed by you and sent for you.</p>
      </>}
      demo={{
        role: 'patient',
        heading: 'Try the demo',
        note: 'these people are made up and their keys come from the published development mnemonic. Anyone can use them; never put anything real behind them.',
      }}
      // Remember how this person signed in: changes are later signed the same way.
      onStart={(hint) => sessionStorage.setItem(SIGNER_KEY, hint ? 'demo' : 'wallet')}
    />
  );
}

function Home({ config, session, onSignOut }: { config: WebConfig; session: SmartSession; onSignOut: () => Promise<void> }) {
  const route = useHashRoute('network');
  const [leaving, setLeaving] = useState(false);
  const network = useLoad(() => api<PatientNetwork>('/web/api/patient/network'), []);
  const notifications = useNotifications(session.accessToken, session.subject, () => void network.reload());
  const isDemo = !!config.demo?.identities.some((i) => i.address === session.subject);
  const signer: Signer | undefined = useMemo(() => {
    const viaDemo = sessionStorage.getItem(SIGNER_KEY) !== 'wallet';
    return isDemo && viaDemo ? demoSigner() : browserWallet(config.wallet) ?? (isDemo ? demoSigner() : undefined);
  }, [isDemo, config.wallet]);
  const pending = network.data?.requests.filter((r) => r.status === 'pending').length ?? 0;
  const name = network.data?.me.name ?? shortAddress(session.subject);
  useEffect(() => { document.title = `MedRec — ${route}`; }, [route]);
  return (
    <>
      <header class="top">
        <h1>MedRec · my records</h1>
        <span class="who">
          Signed in as <strong>{name}</strong> {signer?.demo && <span class="pill">demo key</span>}{' '}
          <Button onClick={() => { setLeaving(true); void onSignOut(); }} disabled={leaving}>{leaving ? 'Signing out…' : 'Sign out'}</Button>
        </span>
      </header>
      <main>
        <Tabs
          label="Sections"
          current={route}
          tabs={[
            ['network', 'My network'],
            ['share', 'Share'],
            ['requests', 'Requests', pending],
            ['log', 'Who read what'],
            ['notifications', 'Notifications', notifications.unseen],
            ['records', 'My records'],
          ]}
        />
        {!signer && ['network', 'share', 'requests'].includes(route) && (
          <p class="status status-failed" id={NO_SIGNER_NOTE}>
            No Ethereum wallet was found in this browser, so you can look but not change anything: sharing, revoking and answering
            requests need your signature. <span class="next">Install a wallet extension (such as MetaMask), reload this page and sign in with it.</span>
          </p>
        )}
        {network.error && <Problem error={network.error} retry={network.reload} />}
        {!network.data && !network.error && <Loading what="your network" />}
        {network.data && (
          <>
            {route === 'network' && <NetworkScreen network={network.data} signer={signer} me={session.subject} reload={network.reload} />}
            {route === 'share' && <Share network={network.data} signer={signer} me={session.subject} reload={network.reload} />}
            {route === 'requests' && <Requests network={network.data} signer={signer} me={session.subject} reload={network.reload} />}
            {route === 'log' && <AccessLog network={network.data} />}
            {route === 'notifications' && <Notifications feed={notifications} pendingRequests={pending} />}
            {route === 'records' && <Records network={network.data} fhirBase={config.fhirBase} patient={session.subject} />}
          </>
        )}
      </main>
    </>
  );
}

function App() {
  const { config, session, error, signOut } = useWebSession('patient');
  if (!config) {
    return error ? <main><Problem error={{ text: error, next: 'Reload the page in a moment.' }} /></main> : <main><Loading what="MedRec" /></main>;
  }
  if (!session) {
    return (
      <>
        <header class="top"><h1>MedRec · my records</h1></header>
        <PatientSignIn config={config} error={error} />
      </>
    );
  }
  return <Home config={config} session={session} onSignOut={signOut} />;
}

render(<App />, document.getElementById('app')!);

