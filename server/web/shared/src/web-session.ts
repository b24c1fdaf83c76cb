/** What both apps do around their screens: load the server's config, finish or restore a SMART sign-in, sign out. */
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, setBearer } from './api.ts';
import type { WebConfig } from './api-types.ts';
import { completeLogin, endSession, loadSession, saveSession, type SmartSession } from './smart-login.ts';

export interface WebSession {
  readonly config?: WebConfig;
  readonly session?: SmartSession;
  readonly error?: string;
  readonly signOut: () => Promise<void>;
}

export function useWebSession(app: 'patient' | 'provider'): WebSession {
  const key = `medrec.${app}.session`;
  const [config, setConfig] = useState<WebConfig>();
  const [session, setSession] = useState<SmartSession | undefined>(() => loadSession(key));
  const [error, setError] = useState<string>();
  useEffect(() => {
    api<WebConfig>('/web/api/config').then(setConfig, (e: unknown) => setError(describeError(e).text));
    completeLogin().then(
      (s) => { if (s) { saveSession(key, s); setSession(s); } },
      (e: unknown) => setError(describeError(e).text),
    );
  }, []);
  const signOut = async () => {
    // The sign-in session ends first, so the next sign-in (maybe someone else) starts clean.
    if (session && config) await endSession(config.fhirBase, config.clients[app], session.accessToken);
    saveSession(key, undefined);
    setBearer(undefined);
    setSession(undefined);
  };
  if (session) setBearer(session.accessToken, () => void signOut());
  return { ...(config ? { config } : {}), ...(session ? { session } : {}), ...(error ? { error } : {}), signOut };
}
