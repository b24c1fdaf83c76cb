/**
 * `medrec deploy | status | provider … | participant … | relationship … | events | fund | relay`:
 * the network operator's and the provider node's commands.
 */
import { readFileSync } from 'node:fs';
import { formatEther, parseEther } from 'ethers';
import { deployMedRec, saveDeployment, type FoundingProvider } from '../../contracts/deployment.ts';
import type { SignedAction } from '../../contracts/eip712.ts';
import type { MedRecLog } from '../../contracts/client.ts';
import { MotionKind, MotionStatus } from '../../contracts/bindings/ProviderRegistry.ts';
import { linkCommitment, newLinkSalt, verifyLink, type LocalLink } from '../../contracts/link-commitment.ts';
import { CliError, type CliGroup } from './cli-context.ts';
import { formatTime, parseAddress, parseId, parseRole, roleName } from './terms.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `sourceId:localId` rows (the local id may itself contain colons). */
function parseLinks(rows: readonly string[] | undefined): LocalLink[] {
  if (!rows || rows.length === 0) throw new CliError('pass at least one --link <sourceId:localId> (or --commitment)');
  return rows.map((row) => {
    const at = row.indexOf(':');
    if (at <= 0 || at === row.length - 1) throw new CliError(`--link must be sourceId:localId, got ${row}`);
    return { sourceId: row.slice(0, at), localId: row.slice(at + 1) };
  });
}
/** A contract enum value by its binding's name, in lower case (`MotionStatus.Lapsed` → `lapsed`). */
const enumName = (values: Readonly<Record<string, number>>, value: number): string =>
  Object.keys(values).find((name) => values[name] === value)?.toLowerCase() ?? String(value);

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
      .option('--all', 'include passed, rescinded and lapsed motions')
      .action(async (flags: { all?: boolean }) => {
        const motions = await (await ctx.client()).listMotions({ all: flags.all });
        ctx.print(motions, () =>
          motions.length === 0
            ? 'no open motions'
            : motions.map(
                (m) =>
                  `#${m.id} ${enumName(MotionKind, m.kind)} ${m.subject}${m.name ? ` (${m.name})` : ''}: ${enumName(MotionStatus, m.status)}, ${m.yes}/${m.required} votes, proposed by ${m.proposer}` +
                  (m.status === MotionStatus.Open ? `, lapses ${formatTime(m.expiresAt)}` : ''),
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
    provider
      .command('expire <motionId>')
      .description('record that a motion lapsed without being carried (anyone may, once its 30 days are over)')
      .action(async (motionId: string) => {
        const result = await (await ctx.client()).expireMotion(await ctx.signer(), parseId(motionId, 'motion id'));
        ctx.print(result, () => `motion #${motionId} recorded as lapsed`);
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
      .command('update')
      .description('change your role, display name or JWKS URL')
      .requiredOption('--role <role>', 'patient, pharmacy, proxy, researcher, clinician, organisation')
      .option('--name <displayName>', 'public display name (not for patients)', '')
      .option('--jwks <url>', 'JWKS URL for SMART Backend Services', '')
      .action(async (flags: { role: string; name: string; jwks: string }) => {
        const result = await (await ctx.client()).updateParticipant(await ctx.signer(), {
          role: parseRole(flags.role),
          displayName: flags.name,
          jwksUrl: flags.jwks,
        });
        ctx.print(result, () => `updated${result.relayed ? ' (relayed)' : ''}`);
      });
    participant
      .command('unregister')
      .description('remove your directory entry')
      .action(async () => {
        const result = await (await ctx.client()).unregister(await ctx.signer());
        ctx.print(result, () => `unregistered${result.relayed ? ' (relayed)' : ''}`);
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
      .option('--link <sourceId:localId>', "a local id of the patient in one of your sources (repeatable; never sent, only its commitment)", collect)
      .option('--salt <hex>', 'salt for the commitment (default: a fresh random one, printed: keep it with the link)')
      .option('--commitment <hex>', 'a link commitment computed elsewhere (instead of --link)')
      .action(async (patient: string, flags: { link?: string[]; salt?: string; commitment?: string }) => {
        const client = await ctx.client();
        const signer = await ctx.signer();
        const patientAddress = parseAddress(patient, 'patient address');
        let commitment = flags.commitment;
        let salt: string | undefined;
        if (!commitment) {
          const links = parseLinks(flags.link);
          salt = flags.salt ?? newLinkSalt();
          commitment = linkCommitment({ provider: await signer.getAddress(), patient: patientAddress, salt, links });
        }
        const result = await client.addRelationship(signer, patientAddress, commitment);
        ctx.print({ ...result, commitment, salt }, () => [
          `relationship with ${patientAddress} recorded, commitment ${commitment}`,
          ...(salt ? [`salt ${salt} (store it with the link; it is not on chain)`] : []),
        ]);
      });
    relationship
      .command('notify <patient>')
      .description('announce that your records for a patient changed (type names only)')
      .option('--type <ResourceType>', 'a FHIR resource type that changed (repeatable)', collect)
      .action(async (patient: string, flags: { type?: string[] }) => {
        const result = await (await ctx.client()).announceRecordsChanged(await ctx.signer(), parseAddress(patient), flags.type ?? []);
        ctx.print(result, () => `records-changed notice sent for ${patient}`);
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
      .description("check a provider's link rows and salt against the on-chain commitment")
      .requiredOption('--link <sourceId:localId>', 'a link row (repeatable: all rows of this provider for the patient)', collect)
      .requiredOption('--salt <hex>', 'the salt kept with the link')
      .action(async (provider: string, patient: string, flags: { link: string[]; salt: string }) => {
        const r = await (await ctx.client()).getRelationship(parseAddress(provider), parseAddress(patient));
        const ok = r.active && verifyLink({ provider, patient, salt: flags.salt, links: parseLinks(flags.link) }, r.commitment);
        ctx.print({ matches: ok }, () => (ok ? 'the link matches the on-chain commitment' : 'the link does NOT match'));
        if (!ok) ctx.exitCode = 1;
      });

    program
      .command('events')
      .description('decoded MedRec events (what a log follower sees)')
      .option('--from <block>', 'first block (default: the deployment block)')
      .option('--to <block>', 'last block (default: the head)')
      .option('--follow', 'keep printing new events until interrupted')
      .action(async (flags: { from?: string; to?: string; follow?: boolean }) => {
        const client = await ctx.client();
        const addresses = Object.values(client.deployment.addresses);
        let from = flags.from ? Number(parseId(flags.from, 'block')) : client.deployment.fromBlock;
        const print = (e: MedRecLog): void =>
          ctx.print({ block: e.blockNumber, tx: e.transactionHash, event: e.name, args: e.args }, () =>
            `${e.blockNumber} ${e.name} ${Object.entries(e.args).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`).join(' ')}`,
          );
        for (;;) {
          const head = flags.to ? Number(parseId(flags.to, 'block')) : await client.provider.getBlockNumber();
          // Besu answers at most 5000 blocks per eth_getLogs by default.
          for (let start = from; start <= head; start += 5000) {
            const logs = await client.provider.getLogs({ address: addresses, fromBlock: start, toBlock: Math.min(head, start + 4999) });
            for (const log of logs) {
              const event = client.decodeLog(log);
              if (event) print(event);
            }
          }
          from = head + 1;
          if (!flags.follow || flags.to) break;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
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
