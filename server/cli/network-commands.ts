/**
 * `medrec deploy | status | provider … | participant … | relationship … | fund | relay`:
 * the network operator's and the provider node's commands.
 */
import { readFileSync } from 'node:fs';
import { formatEther, parseEther } from 'ethers';
import { deployMedRec, saveDeployment, type FoundingProvider } from '../../contracts/deployment.ts';
import type { SignedAction } from '../../contracts/eip712.ts';
import { linkCommitment, newLinkSalt, verifyLink } from '../../contracts/link-commitment.ts';
import { CliError, type CliGroup } from './cli-context.ts';
import { formatTime, parseAddress, parseId, parseRole, roleName } from './terms.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const MOTION_KIND = ['admit', 'remove'] as const;
const MOTION_STATUS = ['none', 'open', 'passed', 'rescinded'] as const;

export const networkCommands: CliGroup = {
  name: 'network',
  register(program, ctx) {
    program
      .command('deploy')
      .description('deploy the four MedRec contracts and write the deployment file')
      .option('--founder <account,name,fhirBaseUrl,node>', 'a founding provider (repeatable)', collect)
      .option('--founders <file>', 'JSON array of { account, name, fhirBaseUrl, node }')
      .action(async (flags: { founder?: string[]; founders?: string }) => {
        const founders: FoundingProvider[] = flags.founders
          ? (JSON.parse(readFileSync(flags.founders, 'utf8')) as FoundingProvider[])
          : (flags.founder ?? []).map((f) => {
              const [account = '', name = '', fhirBaseUrl = '', node = ''] = f.split(',');
              return { account: parseAddress(account), name, fhirBaseUrl, node: parseAddress(node, 'node address') };
            });
        if (founders.length === 0) throw new CliError('name at least one founding provider (--founder or --founders)');
        const deployment = await deployMedRec(await ctx.signer(), founders);
        const rpcUrl = ctx.explicitRpcUrl();
        saveDeployment(ctx.options.deployment, { ...deployment, ...(rpcUrl ? { rpcUrl } : {}) });
        ctx.print(deployment, () => [
          `deployed on chain ${deployment.chainId} at block ${deployment.fromBlock} (${ctx.options.deployment})`,
          ...Object.entries(deployment.addresses).map(([name, address]) => `  ${name.padEnd(21)} ${address}`),
        ]);
      });

    program
      .command('status')
      .description('chain, deployment and network size')
      .action(async () => {
        const client = await ctx.client();
        const [block, providers, validators, grants, studies] = await Promise.all([
          client.provider.getBlockNumber(),
          client.listProviders(),
          client.getValidators(),
          client.consent.read('grantCount'),
          client.consent.read('studyCount'),
        ]);
        const data = { chainId: client.deployment.chainId, block, addresses: client.deployment.addresses, providers: providers.length, validators, grants, studies };
        ctx.print(data, () => [
          `chain ${data.chainId}, block ${block}`,
          ...Object.entries(data.addresses).map(([name, address]) => `  ${name.padEnd(21)} ${address}`),
          `${providers.length} providers, ${validators.length} validators, ${grants} grants, ${studies} studies`,
        ]);
      });

    const provider = program.command('provider').description('the provider registry (majority votes)');
    provider
      .command('list')
      .description('current providers')
      .action(async () => {
        const records = await (await ctx.client()).listProviders();
        ctx.print(records, () =>
          records.length === 0 ? 'no providers' : records.map((p) => `${p.account}  ${p.name}  ${p.fhirBaseUrl || '-'}  node ${p.node}`),
        );
      });
    provider
      .command('validators')
      .description('node addresses for the QBFT validator set (getValidators)')
      .action(async () => {
        const validators = await (await ctx.client()).getValidators();
        ctx.print(validators, () => validators);
      });
    provider
      .command('motions')
      .description('open motions (with --all, every motion)')
      .option('--all', 'include passed and rescinded motions')
      .action(async (flags: { all?: boolean }) => {
        const motions = await (await ctx.client()).listMotions({ all: flags.all });
        ctx.print(motions, () =>
          motions.length === 0
            ? 'no open motions'
            : motions.map(
                (m) =>
                  `#${m.id} ${MOTION_KIND[m.kind]} ${m.subject}${m.name ? ` (${m.name})` : ''}: ${MOTION_STATUS[m.status]}, ${m.yes}/${m.required} votes, proposed by ${m.proposer}`,
              ),
        );
      });
    provider
      .command('propose <account>')
      .description('propose admitting a provider (your vote counts at once)')
      .requiredOption('--name <name>', 'public name of the organisation')
      .requiredOption('--node <address>', 'address of its chain node key (validator)')
      .option('--url <fhirBaseUrl>', 'its FHIR base URL', '')
      .action(async (account: string, flags: { name: string; node: string; url: string }) => {
        const client = await ctx.client();
        const result = await client.proposeAdmission(await ctx.signer(), {
          account: parseAddress(account),
          name: flags.name,
          fhirBaseUrl: flags.url,
          node: parseAddress(flags.node, 'node address'),
        });
        ctx.print(result, () => `motion #${result.motionId} to admit ${account}${result.admitted ? ': admitted at once' : ' opened'}`);
      });
    provider
      .command('remove <account>')
      .description('propose removing a provider')
      .action(async (account: string) => {
        const result = await (await ctx.client()).proposeRemoval(await ctx.signer(), parseAddress(account));
        ctx.print(result, () => `motion #${result.motionId} to remove ${account} opened`);
      });
    provider
      .command('vote <motionId>')
      .description('vote yes on a motion')
      .action(async (motionId: string) => {
        const result = await (await ctx.client()).vote(await ctx.signer(), parseId(motionId, 'motion id'));
        ctx.print(result, () => `voted on #${motionId}: ${result.yes}/${result.required}${result.carried ? ', carried' : ''}`);
      });
    provider
      .command('rescind <motionId>')
      .description('withdraw your own motion')
      .action(async (motionId: string) => {
        const result = await (await ctx.client()).rescind(await ctx.signer(), parseId(motionId, 'motion id'));
        ctx.print(result, () => `motion #${motionId} rescinded`);
      });
    provider
      .command('execute <motionId>')
      .description('carry out a motion that has its majority')
      .action(async (motionId: string) => {
        const result = await (await ctx.client()).executeMotion(await ctx.signer(), parseId(motionId, 'motion id'));
        ctx.print(result, () => `motion #${motionId} carried`);
      });

    const participant = program.command('participant').description('the participant directory');
    participant
      .command('register')
      .description('register your address (patients: no display name)')
      .requiredOption('--role <role>', 'patient, pharmacy, proxy, researcher, clinician, organisation')
      .option('--name <displayName>', 'public display name (not for patients)', '')
      .option('--jwks <url>', 'JWKS URL for SMART Backend Services', '')
      .action(async (flags: { role: string; name: string; jwks: string }) => {
        const result = await (await ctx.client()).register(await ctx.signer(), {
          role: parseRole(flags.role),
          displayName: flags.name,
          jwksUrl: flags.jwks,
        });
        ctx.print(result, () => `registered as ${flags.role}${result.relayed ? ' (relayed)' : ''}`);
      });
    participant
      .command('show <address>')
      .description("a participant's directory entry")
      .action(async (address: string) => {
        const p = await (await ctx.client()).getParticipant(parseAddress(address));
        ctx.print(p, () =>
          p.role === 0 ? `${address} is not registered` : `${address}: ${roleName(p.role)} ${p.displayName || '(no name)'} ${p.jwksUrl || ''}`.trim(),
        );
      });

    const relationship = program.command('relationship').description('provider-patient relationships');
    relationship
      .command('add <patient>')
      .description('record that you (a provider) hold records for a patient')
      .option('--commitment <hex>', 'a link commitment computed elsewhere')
      .option('--source <sourceId>', 'the source holding the patient (with --local-id)')
      .option('--local-id <id>', "the patient's local id there (never sent: only its commitment)")
      .option('--salt <hex>', 'salt for the commitment (default: a fresh random one, printed: keep it with the link)')
      .action(async (patient: string, flags: { commitment?: string; source?: string; localId?: string; salt?: string }) => {
        const client = await ctx.client();
        const signer = await ctx.signer();
        const patientAddress = parseAddress(patient, 'patient address');
        let commitment = flags.commitment;
        let salt: string | undefined;
        if (!commitment) {
          if (!flags.source || !flags.localId) throw new CliError('pass --commitment, or --source and --local-id');
          salt = flags.salt ?? newLinkSalt();
          commitment = linkCommitment({
            provider: await signer.getAddress(),
            patient: patientAddress,
            salt,
            links: [{ sourceId: flags.source, localId: flags.localId }],
          });
        }
        const result = await client.addRelationship(signer, patientAddress, commitment);
        ctx.print({ ...result, commitment, salt }, () => [
          `relationship with ${patientAddress} recorded, commitment ${commitment}`,
          ...(salt ? [`salt ${salt} (store it with the link; it is not on chain)`] : []),
        ]);
      });
    relationship
      .command('end <provider> <patient>')
      .description('end a relationship (as its provider or its patient)')
      .action(async (provider: string, patient: string) => {
        const result = await (await ctx.client()).endRelationship(await ctx.signer(), parseAddress(provider), parseAddress(patient));
        ctx.print(result, () => `relationship ended${result.relayed ? ' (relayed)' : ''}`);
      });
    relationship
      .command('show <provider> <patient>')
      .description('the relationship and its commitment')
      .action(async (provider: string, patient: string) => {
        const r = await (await ctx.client()).getRelationship(parseAddress(provider), parseAddress(patient));
        ctx.print(r, () => (r.since === 0 ? 'no relationship' : `${r.active ? 'active' : 'ended'} since ${formatTime(r.since)}, commitment ${r.commitment}`));
      });
    relationship
      .command('verify <provider> <patient>')
      .description('check a link (source, local id, salt) against the on-chain commitment')
      .requiredOption('--source <sourceId>', 'source id')
      .requiredOption('--local-id <id>', 'local patient id')
      .requiredOption('--salt <hex>', 'the salt kept with the link')
      .action(async (provider: string, patient: string, flags: { source: string; localId: string; salt: string }) => {
        const r = await (await ctx.client()).getRelationship(parseAddress(provider), parseAddress(patient));
        const ok =
          r.active &&
          verifyLink({ provider, patient, salt: flags.salt, links: [{ sourceId: flags.source, localId: flags.localId }] }, r.commitment);
        ctx.print({ matches: ok }, () => (ok ? 'the link matches the on-chain commitment' : 'the link does NOT match'));
        if (!ok) ctx.exitCode = 1;
      });

    program
      .command('fund <address> <ether>')
      .description('send ether to a participant who must transact directly')
      .action(async (address: string, ether: string) => {
        const result = await (await ctx.client()).fund(await ctx.signer(), parseAddress(address), parseEther(ether));
        ctx.print(result, () => `sent ${formatEther(parseEther(ether))} ether to ${address}`);
      });

    program
      .command('relay <file>')
      .description('submit a signed action (from --sign-only) with your key as relayer; - reads stdin')
      .action(async (file: string) => {
        const text = readFileSync(file === '-' ? 0 : file, 'utf8');
        const action = JSON.parse(text, (key, value: unknown) =>
          typeof value === 'string' && /^(nonce|deadline|grantId|requestId|studyId)$/.test(key) ? BigInt(value) : value,
        ) as SignedAction;
        const result = await (await ctx.client()).relay(action, await ctx.signer());
        ctx.print(result, () => `relayed ${action.type} for ${action.message.actor} in ${result.hash}`);
      });
  },
};
