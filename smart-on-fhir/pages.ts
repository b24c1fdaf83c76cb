/**
 * Server-rendered pages of the authorization flow: sign-in (SIWE with any EIP-1193 wallet, or a
 * demo identity's dev key), patient picker, consent, errors, the client list. Plain HTML forms a
 * browser, a screen reader and a test can all drive; one small script for wallet signing.
 */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · MedRec</title>
<style>
body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1b1b1b}
h1{font-size:1.5rem}fieldset{border:1px solid #bbb;border-radius:6px;margin:1rem 0;padding:.75rem 1rem}
legend{font-weight:600}button{font-size:1rem;padding:.45rem 1rem;margin:.25rem .5rem .25rem 0;cursor:pointer}
.sub{margin-left:1.75rem}.muted{color:#555}.error{color:#a00000}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}code{font-size:.85em;word-break:break-all}
</style></head><body><main>${body}</main></body></html>`;
}

export function errorPage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p class="error" role="alert">${escapeHtml(message)}</p>
<p class="muted">For your safety you were not sent back to the application.</p>`);
}

export interface DemoIdentityChoice {
  readonly handle: string;
  readonly displayName: string;
  readonly address: string;
}

export function loginPage(input: {
  appName?: string;
  next: string;
  demo: readonly DemoIdentityChoice[];
  error?: string;
  /** CSP nonce for the wallet script. */
  nonce: string;
}): string {
  const demo = input.demo.length
    ? `<form method="post" action="/auth/login/demo"><fieldset><legend>Demo identities (published development keys)</legend>
<input type="hidden" name="next" value="${escapeHtml(input.next)}">
${input.demo
  .map((d) => `<button type="submit" name="handle" value="${escapeHtml(d.handle)}" aria-label="Sign in as ${escapeHtml(d.displayName)}">${escapeHtml(d.displayName)}</button>`)
  .join('\n')}
<p class="muted">Each button signs the same Sign-In with Ethereum message with that identity's public dev key.</p>
</fieldset></form>`
    : '';
  return layout(
    'Sign in',
    `<h1>Sign in with Ethereum</h1>
${input.appName ? `<p><strong>${escapeHtml(input.appName)}</strong> asks to use your health records.</p>` : ''}
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ''}
<form id="siwe" method="post" action="/auth/login">
<input type="hidden" name="next" value="${escapeHtml(input.next)}">
<input type="hidden" name="message" id="siwe-message"><input type="hidden" name="signature" id="siwe-signature">
<button type="button" id="wallet">Sign in with your wallet</button>
<p id="status" class="muted" role="status" aria-live="polite"></p></form>
${demo}
<script nonce="${escapeHtml(input.nonce)}">
document.getElementById('wallet').addEventListener('click', async () => {
  const status = document.getElementById('status');
  if (!window.ethereum) { status.textContent = 'No Ethereum wallet found in this browser. Install a wallet extension (such as MetaMask) and reload this page${input.demo.length ? ', or use one of the demo identities below' : ''}.'; return; }
  try {
    const [address] = await window.ethereum.request({ method: 'eth_requestAccounts' });
    const res = await fetch('/auth/siwe/message?address=' + encodeURIComponent(address));
    const { message } = await res.json();
    const signature = await window.ethereum.request({ method: 'personal_sign', params: [message, address] });
    document.getElementById('siwe-message').value = message;
    document.getElementById('siwe-signature').value = signature;
    document.getElementById('siwe').submit();
  } catch (e) { status.textContent = 'Signing was cancelled or failed.'; }
});
</script>`,
  );
}

export interface PatientChoice {
  readonly address: string;
  readonly label: string;
}

export function patientPickerPage(input: { appName: string; action: string; patients: readonly PatientChoice[] }): string {
  const options = input.patients
    .map(
      (p, i) => `<div><input type="radio" name="patient" id="p${i}" value="${escapeHtml(p.address)}"${i === 0 ? ' checked' : ''}>
<label for="p${i}">${escapeHtml(p.label)} <code>${escapeHtml(p.address)}</code></label></div>`,
    )
    .join('\n');
  return layout(
    'Choose a patient',
    `<h1>Choose a patient</h1><p><strong>${escapeHtml(input.appName)}</strong> works with one patient's records at a time.</p>
${
  input.patients.length
    ? `<form method="post" action="${escapeHtml(input.action)}"><fieldset><legend>Patients you may act for</legend>${options}</fieldset>
<button type="submit">Continue</button></form>`
    : '<p class="error" role="alert">There is no patient whose records you may see.</p>'
}`,
  );
}

export interface ConsentScopeRow {
  readonly raw: string;
  readonly label: string;
  /** Launch/identity scopes the flow needs: shown, not optional. */
  readonly fixed: boolean;
  readonly categories: readonly { raw: string; label: string }[];
  /** What the on-chain grants let the app see for this scope, in words. */
  readonly onChain?: string;
}

export function consentPage(input: {
  appName: string;
  clientId: string;
  action: string;
  user: string;
  patientLabel?: string;
  rows: readonly ConsentScopeRow[];
  grantsSummary: readonly string[];
}): string {
  const rows = input.rows
    .map((r, i) => {
      const main = r.fixed
        ? `<input type="hidden" name="scope" value="${escapeHtml(r.raw)}"><span>${escapeHtml(r.label)} <code>${escapeHtml(r.raw)}</code></span>`
        : `<input type="checkbox" name="scope" id="s${i}" value="${escapeHtml(r.raw)}" checked>
<label for="s${i}">${escapeHtml(r.label)} <code>${escapeHtml(r.raw)}</code></label>`;
      const cats = r.categories.length
        ? `<fieldset class="sub"><legend>Or only these categories</legend>${r.categories
            .map(
              (c, j) => `<div><input type="checkbox" name="scope" id="s${i}c${j}" value="${escapeHtml(c.raw)}">
<label for="s${i}c${j}">${escapeHtml(c.label)}</label></div>`,
            )
            .join('')}</fieldset>`
        : '';
      const chain = r.onChain ? `<div class="sub muted">On-chain grants: ${escapeHtml(r.onChain)}</div>` : '';
      return `<div>${main}${chain}${cats}</div>`;
    })
    .join('\n');
  return layout(
    'Allow access',
    `<h1>Allow <em>${escapeHtml(input.appName)}</em>?</h1>
<p>Signed in as <code>${escapeHtml(input.user)}</code>${input.patientLabel ? `, for patient ${escapeHtml(input.patientLabel)}` : ''}.</p>
<form method="post" action="${escapeHtml(input.action)}">
<fieldset><legend>The app asks for</legend>${rows}
<p class="muted">Uncheck what you do not want to share; choosing categories replaces the whole resource type.</p></fieldset>
<section aria-labelledby="grants"><h2 id="grants">What the on-chain grants actually allow</h2>
<ul>${input.grantsSummary.map((g) => `<li>${escapeHtml(g)}</li>`).join('')}</ul>
<p class="muted">The app never sees more than both these scopes and the patient's on-chain grants allow.</p></section>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

export function clientsPage(
  clients: readonly { clientId: string; name: string; type: string; origin: string; allowed: string; redirectUris: readonly string[]; address?: string }[],
): string {
  return layout(
    'Registered apps',
    `<h1>Registered SMART apps and backend clients</h1><table><thead><tr><th scope="col">Client</th><th scope="col">Type</th><th scope="col">Registered</th><th scope="col">Allowed scopes</th><th scope="col">Redirect URIs / address</th></tr></thead><tbody>
${clients
  .map(
    (c) => `<tr><td>${escapeHtml(c.name)}<br><code>${escapeHtml(c.clientId)}</code></td><td>${escapeHtml(c.type)}</td><td>${escapeHtml(c.origin)}</td><td><code>${escapeHtml(c.allowed)}</code></td>
<td>${c.redirectUris.map((u) => `<code>${escapeHtml(u)}</code>`).join('<br>')}${c.address ? `<code>${escapeHtml(c.address)}</code>` : ''}</td></tr>`,
  )
  .join('\n')}</tbody></table>`,
  );
}

export interface ManagedGrantRow {
  readonly id: string;
  readonly appName: string;
  readonly clientId: string;
  readonly scope: string;
  readonly patientLabel?: string;
  readonly expiresAt: number;
}

/** The user's apps with access (SMART `management_endpoint`): each can be revoked at once. */
export function managePage(input: { user: string; grants: readonly ManagedGrantRow[]; revoked?: string }): string {
  const rows = input.grants
    .map(
      (g) => `<tr><td>${escapeHtml(g.appName)}<br><code>${escapeHtml(g.clientId)}</code></td><td>${g.patientLabel ? escapeHtml(g.patientLabel) : '—'}</td>
<td><code>${escapeHtml(g.scope)}</code></td><td>${escapeHtml(new Date(g.expiresAt * 1000).toISOString())}</td>
<td><form method="post" action="/auth/manage/revoke"><input type="hidden" name="grant" value="${escapeHtml(g.id)}">
<button type="submit" aria-label="Revoke access of ${escapeHtml(g.appName)}">Revoke</button></form></td></tr>`,
    )
    .join('\n');
  return layout(
    'Apps with access',
    `<h1>Apps with access</h1><p>Signed in as <code>${escapeHtml(input.user)}</code>.</p>
${input.revoked ? `<p role="status">Access of ${escapeHtml(input.revoked)} was revoked; its tokens no longer work.</p>` : ''}
${
  input.grants.length
    ? `<table><thead><tr><th scope="col">App</th><th scope="col">Patient</th><th scope="col">Scopes</th><th scope="col">Until</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>No app has access right now.</p>'
}
<p class="muted">This ends an app's sign-in; what your records allow is set by your on-chain grants.</p>`,
  );
}
