/**
 * What the MedRec contracts cost on chain, beside MedRec 2.0's published transaction sizes
 * (thesis §4.4.3 / ICNC §III-B: 9,727 bytes to create an Agent, 5,007 bytes per Relationship,
 * 220 bytes per update), as ratios; plus gas per operation and the embedded default's start,
 * deploy and seed time against a bare anvil start measured in the same run.
 *
 * Sizes are the signed raw transactions (`eth_getRawTransactionByHash`), i.e. what each
 * operation adds to the chain, like the MedRec figures. Run: `node bench/contracts-gas.ts`.
 */
import { HDNodeWallet, Mnemonic, getBytes, parseEther, toBeHex } from 'ethers';
import { Purpose } from '../contracts/bindings/Consent.ts';
import { Role } from '../contracts/bindings/ParticipantDirectory.ts';
import { MedRecClient, type TxOutcome } from '../contracts/client.ts';
import { connectChain } from '../contracts/connection.ts';
import { deployMedRec } from '../contracts/deployment.ts';
import { linkCommitment, newLinkSalt } from '../contracts/link-commitment.ts';
import { startAnvil, startEmbeddedChain } from '../server/embedded/chain.ts';
import { DEMO_MNEMONIC } from '../server/embedded/demo-identities.ts';

const SAMPLES = 5;
const MEDREC = { agent: 9727, relationship: 5007, update: 220 };

// ------------------------------------------------------------------ timing
const t0 = performance.now();
const bare = await startAnvil();
const anvilMs = performance.now() - t0;
await bare.stop();

const t1 = performance.now();
const embedded = await startEmbeddedChain({ blockTime: 0 });
const embeddedMs = performance.now() - t1;
const seededTxs = embedded.seed?.transactions.length ?? 0;
await embedded.stop();

// ------------------------------------------------------------- operations
const anvil = await startAnvil();
const { provider } = await connectChain({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, pollingInterval: 20 });
const mnemonic = Mnemonic.fromPhrase(DEMO_MNEMONIC);
let index = 2000;
const wallet = async (funded: boolean): Promise<HDNodeWallet> => {
  const w = HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${index++}`).connect(provider);
  if (funded) await anvil.rpc('anvil_setBalance', [w.address, toBeHex(parseEther('100'))]);
  return w;
};
const operator = HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/0`).connect(provider);
const providers = [await wallet(true), await wallet(true), await wallet(true), await wallet(true)];
const node = (a: string): string => `0x${a.slice(2, 10)}${'0'.repeat(24)}${a.slice(-8)}`.toLowerCase();
const tDeploy = performance.now();
const deployment = await deployMedRec(operator, providers.map((p, i) => ({ account: p.address, name: `Provider ${i}`, fhirBaseUrl: `https://p${i}.example/fhir`, node: node(p.address) })));
const deployMs = performance.now() - tDeploy;
const direct = new MedRecClient({ provider, deployment, relayer: operator, mode: 'direct' });
const relayed = direct.with({ mode: 'relayed' });

interface Sample { gas: bigint; bytes: number }
const results = new Map<string, Sample[]>();
const measure = async (name: string, outcome: Promise<TxOutcome>): Promise<void> => {
  const o = await outcome;
  const raw = await anvil.rpc<string>('eth_getRawTransactionByHash', [o.hash]);
  const list = results.get(name) ?? [];
  list.push({ gas: o.gasUsed, bytes: getBytes(raw).length });
  results.set(name, list);
};

const [h, c, p2] = providers as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
const pharmacy = await wallet(true);
const researcher = await wallet(true);
const medications = { providers: [], resourceTypes: ['MedicationRequest', 'Medication', 'MedicationDispense'], actions: 3, purpose: Purpose.Treatment, notBefore: 0, expiresAt: 0 };
const { studyId } = await direct.openStudy(researcher, 'Bench study', { ...medications, purpose: Purpose.Research });
for (let i = 0; i < SAMPLES; i++) {
  const patient = await wallet(true);
  const gasless = await wallet(false);
  await measure('register patient (direct)', direct.register(patient, { role: Role.Patient }));
  await measure('register patient (relayed EIP-712)', relayed.register(gasless, { role: Role.Patient }));
  const commitment = linkCommitment({ provider: h.address, patient: patient.address, salt: newLinkSalt(), links: [{ sourceId: 'hospital', localId: `MRN-${i}` }] });
  await measure('relationship add', direct.addRelationship(h, patient.address, commitment));
  await measure('records-changed notice', direct.announceRecordsChanged(h, patient.address, ['Observation']));
  await measure('relationship commitment update', direct.updateCommitment(h, patient.address, commitment));
  const g = await direct.createGrant(patient, { patient: patient.address, grantee: pharmacy.address, terms: medications });
  await measure('grant (3 types, any provider)', Promise.resolve(g));
  await measure('grant (relayed EIP-712)', relayed.createGrant(gasless, { patient: gasless.address, grantee: pharmacy.address, terms: medications }));
  await measure('revoke', direct.revokeGrant(patient, g.grantId));
  await measure('delegation (relayed)', relayed.setDelegation(gasless, researcher.address, 0));
  await direct.invite(researcher, studyId, [gasless.address]);
  await measure('study enroll (relayed)', relayed.enroll(gasless, studyId, gasless.address));
}
for (let i = 0; i < SAMPLES; i++) {
  // n = 4 providers: propose (1 vote) + 2 votes admit a candidate; measure the middle vote
  const candidate = await wallet(true);
  const proposed = await direct.proposeAdmission(h, { account: candidate.address, name: `Candidate ${i}`, fhirBaseUrl: '', node: node(candidate.address) });
  await measure('provider proposal', Promise.resolve(proposed));
  await measure('provider vote', direct.vote(c, proposed.motionId));
  await measure('provider vote that admits', direct.vote(p2, proposed.motionId));
}

// ------------------------------------------------------------------ report
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = [...results].map(([name, samples]) => ({
  name,
  gas: Math.round(mean(samples.map((s) => Number(s.gas)))),
  bytes: Math.round(mean(samples.map((s) => s.bytes))),
}));
const ratio = (ours: number, theirs: number): string => `${(ours / theirs).toFixed(3)}×`;
const byName = (name: string) => rows.find((r) => r.name === name) ?? { gas: 0, bytes: 0 };

console.log(`MedRec contracts on anvil (chain ${anvil.chainId}), mean of ${SAMPLES} samples each\n`);
console.log(`${'operation'.padEnd(38)}${'gas'.padStart(10)}${'tx bytes'.padStart(10)}`);
for (const r of rows) console.log(`${r.name.padEnd(38)}${String(r.gas).padStart(10)}${String(r.bytes).padStart(10)}`);

console.log('\nbeside MedRec 2.0 (published transaction sizes; ratio = ours / MedRec, lower is smaller)');
const patientOnboard = byName('register patient (relayed EIP-712)').bytes;
const rel = byName('relationship add').bytes;
const upd = byName('relationship commitment update').bytes;
const notice = byName('records-changed notice').bytes;
console.log(`  patient onboarding: ${patientOnboard} B vs Agent creation ${MEDREC.agent} B -> ${ratio(patientOnboard, MEDREC.agent)}`);
console.log(`  relationship:       ${rel} B vs ${MEDREC.relationship} B -> ${ratio(rel, MEDREC.relationship)}`);
console.log(`  relationship update: ${upd} B vs ${MEDREC.update} B -> ${ratio(upd, MEDREC.update)} (link commitment replaced)`);
console.log(`  records-changed notice: ${notice} B vs ${MEDREC.update} B -> ${ratio(notice, MEDREC.update)} (MedRec 2.0 had no notifications)`);
const users = 350e6;
const ours = users * (patientOnboard + 5 * rel);
const theirs = users * (MEDREC.agent + 5 * MEDREC.relationship);
console.log(
  `  350 M users x 5 relationships: ${(ours / 1e12).toFixed(2)} TB vs MedRec ${(theirs / 1e12).toFixed(2)} TB -> ${ratio(ours, theirs)}`,
);

console.log('\nembedded default (npm start): anvil + build check + deploy + demo seed');
console.log(`  bare anvil start          ${anvilMs.toFixed(0)} ms (baseline)`);
console.log(`  start + deploy + seed     ${embeddedMs.toFixed(0)} ms (${seededTxs} seed transactions) -> ${(embeddedMs / anvilMs).toFixed(1)}× the bare start`);
console.log(`  deploy alone (4 contracts) ${deployMs.toFixed(0)} ms`);

provider.destroy();
await anvil.stop();
