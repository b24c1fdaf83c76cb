/**
 * The embedded demo's SMART on FHIR app, of the kind any vendor ships: it knows SMART App Launch
 * and FHIR, nothing of MedRec. Launched by an EHR (the provider console) at `/demo-app/launch`
 * with `iss` and `launch`, it authorizes with PKCE, exchanges the code, and shows the patient in
 * context and a few of their records, read through `/fhir` with its own token. Opened directly,
 * it offers a standalone launch.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../../shared/src/styles.css';
import { api, ApiError, describeError, setBearer } from '../../shared/src/api.ts';
import type { WebConfig } from '../../shared/src/api-types.ts';
import { NAMING_INCLUDES, describeRecord, includedByReference, newestFirst, recordDate, recordTypeLabel, type FhirResource } from '../../shared/src/fhir-display.ts';
import { completeLogin, endSession, loadSession, saveSession, startLogin, type SmartSession } from '../../shared/src/smart-login.ts';
import { Button, Loading, Problem, Section, shortAddress, useLoad } from '../../shared/src/ui.tsx';

const SESSION = 'medrec.demo-app.session';
const EHR_SCOPE = 'launch openid fhirUser patient/*.rs';
const STANDALONE_SCOPE = 'launch/patient openid fhirUser patient/*.rs';
const SHOWN = ['Condition', 'MedicationRequest', 'AllergyIntolerance', 'Observation'] as const;
const PER_TYPE = 5;

const isLaunch = () => location.pathname.endsWith('/launch');
const redirectUri = () => `${location.origin}/demo-app/`;

interface Patient { name?: Array<{ text?: string; given?: string[]; family?: string }>; birthDate?: string; gender?: string }
interface Bundle { entry?: Array<{ resource?: FhirResource; search?: { mode?: string } }>; link?: Array<{ relation: string }>; total?: number }
interface TypeRecords { readonly type: string; readonly records: readonly FhirResource[]; readonly included?: ReadonlyMap<string, FhirResource>; readonly more: boolean; readonly problem?: string }

function patientName(p: Patient | undefined): string | undefined {
  const n = p?.name?.[0];
  return n?.text ?? ([...(n?.given ?? []), n?.family].filter(Boolean).join(' ') || undefined);
}

/** `…/fhir/Practitioner/0x7099…` → "Practitioner 0x7099…79c8". */
function fhirUserText(fhirUser: string): string {
  const [type = '', id = ''] = fhirUser.split('/').slice(-2);
  return `${type} ${shortAddress(/0x[0-9a-fA-F]{40}/.exec(id)?.[0] ?? id)}`;
}

async function loadChart(fhirBase: string, patient: string): Promise<{ patient?: Patient; types: TypeRecords[] }> {
  const fhir = <T,>(path: string) => api<T>(`${fhirBase}/${path}`, { accept: 'application/fhir+json' });
  const [details, ...types] = await Promise.all([
    fhir<Patient>(`Patient/${encodeURIComponent(patient)}`).catch(() => undefined),
    ...SHOWN.map(async (type): Promise<TypeRecords> => {
      try {
        const naming = NAMING_INCLUDES[type] ? `&${NAMING_INCLUDES[type]}` : '';
        const bundle = await fhir<Bundle>(`${type}?patient=${encodeURIComponent(patient)}&_count=${PER_TYPE}${naming}`);
        const records = (bundle.entry ?? []).flatMap((e) => (e.resource && (e.search?.mode ?? 'match') === 'match' && e.resource.resourceType === type ? [e.resource] : []));
        return { type, records: records.sort(newestFirst), included: includedByReference(bundle.entry ?? []), more: !!bundle.link?.some((l) => l.relation === 'next') };
      } catch (error) {
        const refused = error instanceof ApiError && (error.status === 403 || error.status === 404);
        return { type, records: [], more: false, problem: refused ? 'Not shared with this app.' : describeError(error).text };
      }
    }),
  ]);
  return { ...(details ? { patient: details } : {}), types };
}

function Chart({ session, fhirBase, onSignOut }: { session: SmartSession; fhirBase: string; onSignOut: () => void }) {
  const patient = session.patient;
  const chart = useLoad(() => (patient ? loadChart(fhirBase, patient) : Promise.resolve(undefined)), [patient]);
  if (!patient) {
    return <Section title="No patient in context"><p>The server did not give this app a patient. Launch it again with a patient chosen.</p></Section>;
  }
  const name = patientName(chart.data?.patient);
  return (
    <>
      <Section title="Patient in context" id="patient">
        <p><strong>{name ?? 'Name not shared'}</strong> <span class="muted">MedRec id {shortAddress(patient)}</span></p>
        {chart.data?.patient && (
          <p class="muted">{[chart.data.patient.birthDate && `Born ${chart.data.patient.birthDate}`, chart.data.patient.gender].filter(Boolean).join(' · ')}</p>
        )}
        <p class="muted">Opened by {session.fhirUser ? fhirUserText(session.fhirUser) : 'you'} · access granted: <code>{session.scope}</code></p>
        <Button onClick={onSignOut}>Sign out of this app</Button>
      </Section>
      {chart.error && <Problem error={chart.error} retry={chart.reload} />}
      {chart.loading && !chart.data && <Loading what="the patient's records" />}
      {chart.data?.types.map((t) => (
        <Section key={t.type} title={recordTypeLabel(t.type)} id={`type-${t.type}`}>
          {t.problem ? <p class="muted">{t.problem}</p> : t.records.length === 0 ? <p class="muted">None.</p> : (
            <ul class="list">
              {t.records.map((r) => (
                <li key={r.id}>
                  <span>{describeRecord(r, t.included)}</span>
                  <span class="muted">{recordDate(r)}{r.meta?.source?.includes('#') ? ` · ${r.meta.source.split('#')[1]}` : ''}</span>
                </li>
              ))}
            </ul>
          )}
          {t.more && <p class="muted">Showing the first {PER_TYPE}; there are more.</p>}
        </Section>
      ))}
    </>
  );
}

function App() {
  const [config, setConfig] = useState<WebConfig>();
  const [session, setSession] = useState<SmartSession | undefined>(() => (isLaunch() ? undefined : loadSession(SESSION)));
  const [failure, setFailure] = useState<{ text: string; next?: string }>();
  const [starting, setStarting] = useState(isLaunch());
  useEffect(() => {
    (async () => {
      const cfg = await api<WebConfig>('/web/api/config');
      setConfig(cfg);
      const clientId = cfg.demo?.smartAppClientId;
      if (!clientId) throw new ApiError('The demo SMART app is not registered on this server.', 0, 'It exists only in the embedded demo (npm start without a sources file).');
      if (isLaunch()) {
        const query = new URLSearchParams(location.search);
        const iss = query.get('iss');
        const launch = query.get('launch');
        if (!iss || !launch) throw new ApiError('This launch link is incomplete: it needs iss and launch.', 0, 'Launch the app again from the provider console (SMART apps).');
        // A SMART app talks only to the servers it trusts: here, the one that serves it.
        if (iss.replace(/\/$/, '') !== cfg.fhirBase.replace(/\/$/, '')) {
          throw new ApiError(`This app does not know the FHIR server ${iss}.`, 0, 'Launch it from this server’s provider console.');
        }
        saveSession(SESSION, undefined);
        await startLogin({ fhirBase: iss, clientId, scope: EHR_SCOPE, redirectUri: redirectUri(), launch });
        return;
      }
      const done = await completeLogin();
      if (done) {
        saveSession(SESSION, done);
        setSession(done);
      }
    })().catch((e: unknown) => { setStarting(false); setFailure(describeError(e)); });
  }, []);
  const signOut = () => {
    if (session && config?.demo?.smartAppClientId) void endSession(config.fhirBase, config.demo.smartAppClientId, session.accessToken);
    saveSession(SESSION, undefined);
    setBearer(undefined);
    setSession(undefined);
  };
  if (session) setBearer(session.accessToken, signOut);
  return (
    <>
      <header class="top top-app"><h1>Demo SMART app</h1><span class="who">A SMART on FHIR app, as any vendor would ship one</span></header>
      <main>
        {failure && <Problem error={failure} />}
        {!failure && starting && <Loading what="the launch (SMART EHR launch: sign-in, then consent)" />}
        {!failure && !starting && !config && <Loading what="the app" />}
        {!failure && config && session && <Chart session={session} fhirBase={config.fhirBase} onSignOut={signOut} />}
        {!failure && config && !session && !starting && (
          <Section title="Open a patient's chart" id="start">
            <p>Launch this app from the provider console (<a href="/provider/#smart">SMART apps</a>) to open a patient's chart with the patient already chosen (EHR launch).</p>
            <p>Or sign in yourself (standalone launch): as a patient you see your own records, as a proxy you pick the patient.</p>
            <Button kind="primary" onClick={() => {
              setStarting(true);
              startLogin({ fhirBase: config.fhirBase, clientId: config.demo?.smartAppClientId ?? '', scope: STANDALONE_SCOPE, redirectUri: redirectUri() })
                .catch((e: unknown) => { setStarting(false); setFailure(describeError(e)); });
            }}>Sign in (standalone launch)</Button>
          </Section>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
