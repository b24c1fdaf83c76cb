/**
 * The embedded demo's cast. Every key is derived from the PUBLISHED development mnemonic that
 * anvil and Hardhat use: these keys are public knowledge and must never hold anything real.
 * Sources, chain seeding, the SMART demo login and the web apps all take identities from here.
 */
import { HDNodeWallet, Mnemonic } from 'ethers';
import { deriveLinkSalt } from '../../contracts/link-commitment.ts';

export const DEMO_MNEMONIC = 'test test test test test test test test test test test junk';

export type DemoRole = 'operator' | 'provider' | 'patient' | 'pharmacy' | 'proxy' | 'researcher' | 'clinician';

export interface DemoIdentity {
  /** Stable handle used in config and tests (`hospital`, `alice`, ...). */
  readonly handle: string;
  readonly role: DemoRole;
  /** Display name; for patients a pseudonym, for organisations their public name. */
  readonly displayName: string;
  /** HD index under m/44'/60'/0'/0. */
  readonly index: number;
}

export const DEMO_CAST: readonly DemoIdentity[] = [
  { handle: 'operator', role: 'operator', displayName: 'Network operator (deployer, relayer)', index: 0 },
  { handle: 'hospital', role: 'provider', displayName: 'Mercy General Hospital', index: 1 },
  { handle: 'clinic', role: 'provider', displayName: 'Riverside Family Clinic', index: 2 },
  { handle: 'pharmacy-records', role: 'provider', displayName: 'Corner Pharmacy dispensing records', index: 3 },
  { handle: 'openmrs-clinic', role: 'provider', displayName: 'Hillside OpenMRS Clinic', index: 4 },
  { handle: 'hl7-hospital', role: 'provider', displayName: "St. Luke's Medical Center (HL7v2 feed)", index: 5 },
  { handle: 'pharmacy', role: 'pharmacy', displayName: 'Corner Pharmacy', index: 10 },
  { handle: 'proxy', role: 'proxy', displayName: 'Healthcare proxy (demo)', index: 11 },
  { handle: 'researcher', role: 'researcher', displayName: 'University Cardiology Study', index: 12 },
  { handle: 'clinician', role: 'clinician', displayName: 'Dr. Demo Clinician', index: 13 },
  { handle: 'alice', role: 'patient', displayName: 'Demo patient Alice', index: 20 },
  { handle: 'bob', role: 'patient', displayName: 'Demo patient Bob', index: 21 },
  { handle: 'carol', role: 'patient', displayName: 'Demo patient Carol', index: 22 },
  { handle: 'dave', role: 'patient', displayName: 'Demo patient Dave', index: 23 },
];

const mnemonic = Mnemonic.fromPhrase(DEMO_MNEMONIC);
const wallets = new Map<string, HDNodeWallet>();

/** The dev wallet of a demo identity (derivation is cached). */
export function demoWallet(handle: string): HDNodeWallet {
  let wallet = wallets.get(handle);
  if (!wallet) {
    const identity = DEMO_CAST.find((i) => i.handle === handle);
    if (!identity) throw new Error(`unknown demo identity: ${handle}`);
    wallet = HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${identity.index}`);
    wallets.set(handle, wallet);
  }
  return wallet;
}

/** The lowercase address of a demo identity: the FHIR `Patient.id` for demo patients. */
export function demoAddress(handle: string): string {
  return demoWallet(handle).address.toLowerCase();
}

/** A demo provider's link salt for a patient, derived from its (published) key; undefined for anyone else. */
export function demoLinkSalt(provider: string, patient: string): string | undefined {
  const identity = DEMO_CAST.find((i) => i.role === 'provider' && demoAddress(i.handle) === provider);
  return identity ? deriveLinkSalt(demoWallet(identity.handle).privateKey, patient) : undefined;
}
