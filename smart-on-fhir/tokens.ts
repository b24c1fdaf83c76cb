/**
 * Access tokens and OIDC id_tokens: RS256 JWTs signed with the rotating server keys. An access
 * token carries who (sub = address), which app (client_id), what (scope, patient, encounter) and
 * the server-side grant it stands for (gid), so the resource server decides from the token plus
 * one "is the grant still active" lookup.
 */
import { SignJWT, decodeJwt, jwtVerify, errors } from 'jose';
import type { AccessContext } from '../server/access/access-context.ts';
import type { GrantRecord, GrantStore } from './grant-store.ts';
import { randomToken } from './grant-store.ts';
import { parseScopes } from './scopes.ts';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.ts';

export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string;
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly gid: string;
  readonly jti: string;
  readonly exp: number;
  readonly iat: number;
  readonly patient?: string;
  readonly encounter?: string;
  readonly fhirUser?: string;
}

export interface TokenServiceOptions {
  readonly keys: SigningKeys;
  readonly store: GrantStore;
  /** OIDC issuer: the server's public origin. */
  readonly issuer: string;
  /** The FHIR base URL: every access token's audience. */
  readonly fhirBaseUrl: string;
}

/** Why a bearer token was refused; the message goes into WWW-Authenticate, never a token. */
export class InvalidTokenError extends Error {}

export class TokenService {
  readonly #o: TokenServiceOptions;
  /** Tokens whose signature and claims were already checked: token → claims (bounded). */
  readonly #verified = new Map<string, AccessTokenClaims>();

  constructor(options: TokenServiceOptions) {
    this.#o = options;
  }

  /** One of our current or recently rotated keys, by `kid`; anything else is not our token. */
  readonly #verificationKey = async (header: { kid?: string | undefined }) => {
    const key = await this.#o.keys.verificationKey(header.kid);
    if (!key) throw new InvalidTokenError('unknown signing key');
    return key;
  };

  async issueAccessToken(grant: GrantRecord, lifetimeSeconds: number): Promise<{ token: string; expiresIn: number; jti: string }> {
    const { kid, key } = this.#o.keys.signingKey();
    const jti = randomToken(16);
    const claims: Record<string, string> = { client_id: grant.clientId, scope: grant.scope, gid: grant.id };
    if (grant.patient) claims.patient = grant.patient;
    if (grant.encounter) claims.encounter = grant.encounter;
    if (grant.fhirUser) claims.fhirUser = grant.fhirUser;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'at+jwt' })
      .setIssuer(this.#o.issuer)
      .setAudience(this.#o.fhirBaseUrl)
      .setSubject(grant.subject)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(`${lifetimeSeconds}s`)
      .sign(key);
    return { token, expiresIn: lifetimeSeconds, jti };
  }

  async issueIdToken(input: { clientId: string; subject: string; fhirUser: string; nonce?: string; authTime: number }): Promise<string> {
    const { kid, key } = this.#o.keys.signingKey();
    const claims: Record<string, string | number> = { fhirUser: input.fhirUser, profile: input.fhirUser, auth_time: input.authTime };
    if (input.nonce) claims.nonce = input.nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setIssuer(this.#o.issuer)
      .setAudience(input.clientId)
      .setSubject(input.subject)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
  }

  /** For revocation: the grant id of a genuine token of ours even after it expired. */
  async grantIdIgnoringExpiry(token: string): Promise<string | undefined> {
    try {
      const exp = decodeJwt(token).exp;
      if (typeof exp !== 'number') return undefined;
      const { payload } = await jwtVerify(
        token,
        this.#verificationKey,
        { issuer: this.#o.issuer, audience: this.#o.fhirBaseUrl, algorithms: [SIGNING_ALG], currentDate: new Date((exp - 1) * 1000) },
      );
      return typeof payload.gid === 'string' ? payload.gid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The hot path without a single await: a token already verified, not expired, whose grant was
   * seen active moments ago. Undefined means "take the full path" (`verify`), never "invalid".
   */
  verifyCached(token: string): AccessTokenClaims | undefined {
    const claims = this.#verified.get(token);
    if (!claims || claims.exp * 1000 <= Date.now()) return undefined;
    return this.#o.store.grantActiveCached(claims.gid) ? claims : undefined;
  }

  /**
   * Verifies a bearer access token: RS256 only (no `none`, no HMAC), our issuer, our FHIR base
   * as audience, not expired, its grant not revoked. Throws InvalidTokenError.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    let claims = this.#verified.get(token);
    const now = Math.floor(Date.now() / 1000);
    if (!claims) {
      try {
        const { payload } = await jwtVerify(
          token,
          this.#verificationKey,
          { issuer: this.#o.issuer, audience: this.#o.fhirBaseUrl, algorithms: [SIGNING_ALG], typ: 'at+jwt', requiredClaims: ['exp', 'jti', 'sub'] },
        );
        if (typeof payload.gid !== 'string' || typeof payload.client_id !== 'string' || typeof payload.scope !== 'string') {
          throw new InvalidTokenError('not an access token of this server');
        }
        claims = payload as unknown as AccessTokenClaims;
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error;
        if (error instanceof errors.JWTExpired) throw new InvalidTokenError('the access token expired');
        throw new InvalidTokenError('the access token is invalid');
      }
      if (this.#verified.size >= 10_000) this.#verified.clear();
      this.#verified.set(token, claims);
    }
    if (claims.exp <= now) {
      this.#verified.delete(token);
      throw new InvalidTokenError('the access token expired');
    }
    if (!(await this.#o.store.isGrantActive(claims.gid))) throw new InvalidTokenError('the access token was revoked');
    return claims;
  }
}

/** The FHIR layer's view of a verified token. */
export function accessContextOf(claims: AccessTokenClaims): AccessContext {
  const scopes = parseScopes(claims.scope);
  // The user's own record is readable when the app was told who the user is (fhirUser, or v1 profile).
  const fhirUser = claims.fhirUser && (scopes.context.has('fhirUser') || scopes.context.has('profile')) ? claims.fhirUser.split('/').slice(-2).join('/') : undefined;
  return {
    clientId: claims.client_id,
    subject: claims.sub,
    scopes: scopes.resources,
    ...(claims.patient ? { patient: claims.patient } : {}),
    ...(claims.encounter ? { encounter: claims.encounter } : {}),
    ...(fhirUser ? { fhirUser } : {}),
    tokenId: claims.jti,
  };
}
