/** The provider console: network membership, linked patients, sources, SMART apps. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../../shared/src/styles.css';
import { api } from '../../shared/src/api.ts';
import type { ProviderNetwork, WebConfig } from '../../shared/src/api-types.ts';
import type { SmartSession } from '../../shared/src/smart-login.ts';
import { SignIn } from '../../shared/src/sign-in.tsx';
import { Button, Loading, Problem, Tabs, shortAddress, useHashRoute, useLoad } from '../../shared/src/ui.tsx';
import { Membership } from './membership.tsx';
import { Patients } from './patients.tsx';
import { SmartApps } from './smart-apps.tsx';
import { Sources } from './sources.tsx';
import { useWebSession } from '../../shared/src/web-session.ts';

const SCOPE = 'openid fhirUser';

function ProviderSignIn({ config, error }: { config: WebConfig; error?: string | undefined }) {
  return (
    <SignIn
      app="provider"
      config={config}
      error={error}
      scope={SCOPE}
      heading="Provider console"
      intro={<p>Sign in with your organisation's provider key to manage network membership, your linked patients, your data sources and SMART apps.</p>}
      demo={{
        role: 'provider',
        heading: 'Demo providers',
        note: 'made-up organisations whose keys come from the published development mnemonic. Never use them for anything real.',
      }}
    />
  );
}

function Console({ session, onSignOut }: { session: SmartSession; onSignOut: () => Promise<void> }) {
  const route = useHashRoute('network');
  const [leaving, setLeaving] = useState(false);
  const network = useLoad(() => api<ProviderNetwork>('/web/api/provider/network'), []);
  useEffect(() => { document.title = `MedRec provider — ${route}`; }, [route]);
  const open = network.data?.proposals.filter((p) => p.open).length ?? 0;
  return (
    <>
      <header class="top">
        <h1>MedRec · provider console</h1>
        <span class="who">Signed in as <strong>{network.data?.me.name ?? shortAddress(session.subject)}</strong> <Button onClick={() => { setLeaving(true); void onSignOut(); }} disabled={leaving}>{leaving ? 'Signing out…' : 'Sign out'}</Button></span>
      </header>
      <main>
        <Tabs label="Sections" current={route} tabs={[['network', 'Network', open], ['patients', 'Patients'], ['sources', 'Sources'], ['smart', 'SMART apps']]} />
        {network.error && <Problem error={network.error} retry={network.reload} />}
        {route === 'network' && (network.data ? <Membership network={network.data} reload={network.reload} /> : !network.error && <Loading what="the provider network" />)}
        {route === 'patients' && <Patients />}
        {route === 'sources' && <Sources />}
        {route === 'smart' && <SmartApps />}
      </main>
    </>
  );
}

function App() {
  const { config, session, error, signOut } = useWebSession('provider');
  if (!config) return error ? <main><Problem error={{ text: error, next: 'Reload the page in a moment.' }} /></main> : <main><Loading what="the console" /></main>;
  if (!session) return <><header class="top"><h1>MedRec · provider console</h1></header><ProviderSignIn config={config} error={error} /></>;
  return <Console session={session} onSignOut={signOut} />;
}

render(<App />, document.getElementById('app')!);
