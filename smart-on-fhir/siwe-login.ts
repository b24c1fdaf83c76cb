/**
 * Sign-In with Ethereum (EIP-4361): the server hands out a message with a single-use nonce for
 * its own domain, the wallet signs it, the server checks domain, URI, chain, nonce, time and the
 * signature (siwe + ethers) and learns the user's address. No passwords, no PHI.
 */
import { SiweMessage } from 'siwe';
import { getAddress } from 'ethers';
import type { GrantStore } from './grant-store.ts';

export interface SiweLoginOptions {
  readonly store: GrantStore;
  /** The server's public origin: the message's domain and URI come from it. */
  readonly origin: string;
  readonly chainId: number;
}

export class SiweLogin {
  readonly #o: SiweLoginOptions;
  readonly #url: URL;

  constructor(options: SiweLoginOptions) {
    this.#o = options;
    this.#url = new URL(options.origin);
  }

  /** A fresh message for `address` to sign (valid 5 minutes, nonce single use). */
  async message(address: string): Promise<string> {
    const nonce = await this.#o.store.createNonce(300);
    const now = Date.now();
    return new SiweMessage({
      domain: this.#url.host,
      address: getAddress(address),
      statement: 'Sign in to MedRec to let an app use the health records you may see.',
      uri: this.#url.origin,
      version: '1',
      chainId: this.#o.chainId,
      nonce,
      issuedAt: new Date(now).toISOString(),
      expirationTime: new Date(now + 300_000).toISOString(),
    }).prepareMessage();
  }

  /** The signer's lowercase address, or an error message fit for the login page. */
  async verify(message: string, signature: string): Promise<{ address: string } | { error: string }> {
    let parsed: SiweMessage;
    try {
      parsed = new SiweMessage(message);
    } catch {
      return { error: 'The sign-in message could not be read.' };
    }
    if (parsed.uri !== this.#url.origin || parsed.chainId !== this.#o.chainId) {
      return { error: 'The sign-in message was made for another site or chain.' };
    }
    const result = await parsed
      .verify({ signature, domain: this.#url.host, nonce: parsed.nonce }, { suppressExceptions: true })
      .catch(() => undefined);
    if (!result?.success) return { error: 'The signature does not match the sign-in message.' };
    // The nonce is spent only after a valid signature, so a wrong signature cannot burn it for the user.
    if (!(await this.#o.store.consumeNonce(parsed.nonce))) return { error: 'This sign-in message was already used or expired.' };
    return { address: parsed.address.toLowerCase() };
  }
}
