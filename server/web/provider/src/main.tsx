/** The provider console: network membership, linked patients, sources, SMART apps. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../../shared/src/styles.css';
import { api, describeError, setBearer } from '../../shared/src/api.ts';
import type { ProviderNetwork, WebConfig } from '../../shared/src/api-types.ts';
import { completeLogin, endSession, loadSession, saveSession, startLogin, type SmartSession } from '../../shared/src/smart-login.ts';
import { Button, Loading, Problem, Tabs, shortAddress, useHashRoute, useLoad } from '../../shared/src/ui.tsx';
import { Membership } from './membership.tsx';
import { Patients } from './patients.tsx';
import { SmartApps } from './smart-apps.tsx';
import { Sources } from './sources.tsx';

const SESSION_KEY = 'medrec.provider.session';
const SCOPE = 'openid fhirUser';

function SignIn({ config, error }: { config: WebConfig; error?: string }) {
  const [busy, setBusy] = useState<string>();
  const [failure, setFailure] = useState<{ text: string; next?: string } | undefined>(error ? { text: error, next: 'Please try again.' } : undefined);
  const go = (hint?: string) => {
    setBusy(hint ?? 'wallet');
    startLogin({ fhirBase: config.fhirBase, clientId: config.clients.provider, scope: SCOPE, redirectUri: `${location.origin}/provider/`, loginHint: hint })
      .catch((e: unknown) => { setBusy(undefined); setFailure(describeError(e)); });
  };
  const providers = config.demo?.identities.filter((i) => i.role === 'provider') ?? [];
  return (
    <main>
      <section class="card" aria-labelledby="welcome">
        <h2 id="welcome">Provider console</h2>
        <p>Sign in with your organisation's provider key to manage network membership, your linked patients, your data sources and SMART apps.</p>
        <Button kind="primary" onClick={() => go()} disabled={!!busy}>{busy === 'wallet' ? 'Opening sign-in…' : 'Sign in with your wallet'}</Button>
        {failure && <Problem error={failure} />}
      </section>
      {providers.length > 0 && (
        <section class="card" aria-labelledby="demo-heading">
          <h2 id="demo-heading">Demo providers</h2>
          <p class="demo-note"><strong>Demo keys:</strong> made-up organisations whose keys come from the published development mnemonic. Never use them for anything real.</p>
          <div class="row">
            {providers.map((p) => (
              <Button key={p.handle} onClick={() => go(p.address)} disabled={!!busy}>
                {busy === p.address ? 'Opening sign-in…' : `Sign in as ${p.displayName} (demo key)`}
              </Button>
            ))}
          </div>
        </section>
      )}
    </main>
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
  const [config, setConfig] = useState<WebConfig>();
  const [session, setSession] = useState<SmartSession | undefined>(() => loadSession(SESSION_KEY));
  const [error, setError] = useState<string>();
  useEffect(() => {
    api<WebConfig>('/web/api/config').then(setConfig, (e: unknown) => setError(describeError(e).text));
    completeLogin().then((s) => { if (s) { saveSession(SESSION_KEY, s); setSession(s); } }, (e: unknown) => setError(describeError(e).text));
  }, []);
  const signOut = async () => {
    // The sign-in session ends first, so the next sign-in (maybe someone else) starts clean.
    if (session && config) await endSession(config.fhirBase, config.clients.provider, session.accessToken);
    saveSession(SESSION_KEY, undefined);
    setBearer(undefined);
    setSession(undefined);
  };
  if (session) setBearer(session.accessToken, () => void signOut());
  if (!config) return error ? <main><Problem error={{ text: error, next: 'Reload the page in a moment.' }} /></main> : <main><Loading what="the console" /></main>;
  if (!session) return <><header class="top"><h1>MedRec · provider console</h1></header><SignIn config={config} error={error} /></>;
  return <Console session={session} onSignOut={signOut} />;
}

render(<App />, document.getElementById('app')!);
