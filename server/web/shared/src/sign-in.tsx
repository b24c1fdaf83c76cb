/** The signed-out screen of both apps: sign in with a wallet, or (embedded demo) as a demo identity. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { describeError } from './api.ts';
import type { DemoIdentityView, WebConfig } from './api-types.ts';
import { startLogin } from './smart-login.ts';
import { Button, Problem } from './ui.tsx';

export interface SignInProps {
  readonly app: 'patient' | 'provider';
  readonly config: WebConfig;
  readonly error?: string | undefined;
  readonly scope: string;
  readonly heading: string;
  readonly intro: ComponentChildren;
  /** Which demo identities are offered, under which heading and warning. */
  readonly demo: { readonly role: DemoIdentityView['role']; readonly heading: string; readonly note: ComponentChildren };
  /** Called with the demo address (or undefined for a wallet) just before leaving for the sign-in page. */
  readonly onStart?: (hint: string | undefined) => void;
}

export function SignIn({ app, config, error, scope, heading, intro, demo, onStart }: SignInProps) {
  const [busy, setBusy] = useState<string>();
  const [failure, setFailure] = useState<{ text: string; next?: string } | undefined>(error ? { text: error, next: 'Please try again.' } : undefined);
  const go = (hint?: string) => {
    setBusy(hint ?? 'wallet');
    onStart?.(hint);
    startLogin({ fhirBase: config.fhirBase, clientId: config.clients[app], scope, redirectUri: `${location.origin}/${app}/`, loginHint: hint })
      .catch((e: unknown) => { setBusy(undefined); setFailure(describeError(e)); });
  };
  const identities = config.demo?.identities.filter((i) => i.role === demo.role) ?? [];
  return (
    <main>
      <section class="card" aria-labelledby="welcome">
        <h2 id="welcome">{heading}</h2>
        {intro}
        <Button kind="primary" onClick={() => go()} disabled={!!busy}>
          {busy === 'wallet' ? 'Opening sign-in…' : 'Sign in with your wallet'}
        </Button>
        {failure && <Problem error={failure} />}
      </section>
      {identities.length > 0 && (
        <section class="card" aria-labelledby="demo-heading">
          <h2 id="demo-heading">{demo.heading}</h2>
          <p class="demo-note"><strong>Demo keys:</strong> {demo.note}</p>
          <div class="row">
            {identities.map((p) => (
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
