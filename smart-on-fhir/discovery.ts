/**
 * What the server tells clients about itself: SMART configuration (`{fhir}/.well-known/
 * smart-configuration`), OpenID configuration (`{issuer}/.well-known/openid-configuration`), and
 * the legacy oauth-uris security extension for the CapabilityStatement (fhirclient 0.x/1.x and
 * its 2.x fallback read only that).
 */
import { ASSERTION_ALGS } from './client-authentication.ts';
import { SUPPORTED_SCOPES } from './scopes.ts';
import { SIGNING_ALG } from './signing-keys.ts';

export interface SmartEndpoints {
  readonly issuer: string;
  readonly fhirBaseUrl: string;
  readonly authorize: string;
  readonly token: string;
  readonly introspect: string;
  readonly revoke: string;
  readonly jwks: string;
  readonly register?: string;
  readonly manage: string;
  readonly smartStyle: string;
}

export function smartEndpoints(origin: string, fhirBasePath: string, registration: boolean): SmartEndpoints {
  return {
    issuer: origin,
    fhirBaseUrl: `${origin}${fhirBasePath}`,
    authorize: `${origin}/auth/authorize`,
    token: `${origin}/auth/token`,
    introspect: `${origin}/auth/introspect`,
    revoke: `${origin}/auth/revoke`,
    jwks: `${origin}/auth/jwks`,
    ...(registration ? { register: `${origin}/auth/register` } : {}),
    manage: `${origin}/auth/manage`,
    smartStyle: `${origin}/auth/smart-style.json`,
  };
}

/** The union of ONC g10's standalone-patient and EHR-practitioner capability lists. */
export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'sso-openid-connect',
  'context-banner',
  'context-style',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
] as const;

export function smartConfiguration(e: SmartEndpoints): Record<string, unknown> {
  return {
    issuer: e.issuer,
    jwks_uri: e.jwks,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    ...(e.register ? { registration_endpoint: e.register } : {}),
    scopes_supported: SUPPORTED_SCOPES,
    response_types_supported: ['code'],
    management_endpoint: e.manage,
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    capabilities: SMART_CAPABILITIES,
    code_challenge_methods_supported: ['S256'],
  };
}

export function openidConfiguration(e: SmartEndpoints): Record<string, unknown> {
  return {
    issuer: e.issuer,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    jwks_uri: e.jwks,
    ...(e.register ? { registration_endpoint: e.register } : {}),
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
    scopes_supported: ['openid', 'fhirUser', 'profile', 'offline_access', 'online_access'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce', 'fhirUser', 'profile'],
    code_challenge_methods_supported: ['S256'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
  };
}

/** `CapabilityStatement.rest[0].security` for SMART: service code plus the oauth-uris extension. */
export function capabilitySecurity(e: SmartEndpoints): Record<string, unknown> {
  const uris: { url: string; valueUri: string }[] = [
    { url: 'authorize', valueUri: e.authorize },
    { url: 'token', valueUri: e.token },
    { url: 'introspect', valueUri: e.introspect },
    { url: 'revoke', valueUri: e.revoke },
    { url: 'manage', valueUri: e.manage },
  ];
  if (e.register) uris.push({ url: 'register', valueUri: e.register });
  return {
    cors: true,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
        text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
      },
    ],
    extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: uris }],
  };
}

/** `smart_style_url` target: the EHR's look, for embedded apps (context-style). */
export const SMART_STYLE = {
  color_background: '#ffffff',
  color_error: '#a00000',
  color_highlight: '#0b6e99',
  color_modal_backdrop: '',
  color_success: '#2e7d32',
  color_text: '#1b1b1b',
  dim_border_radius: '6px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, sans-serif',
  font_family_heading: 'system-ui, sans-serif',
};
