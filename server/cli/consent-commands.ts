/**
 * `medrec grant … | delegate … | request … | study …`: patient-controlled access. Patient actions
 * are relayed (EIP-712) when the patient has no ether; `--sign-only` prints the signed message
 * instead, for any relayer to submit with `medrec relay`.
 */
import type { Signer } from 'ethers';
import type { MedRecClient, TxOutcome } from '../../contracts/client.ts';
import type { ActionMessages, ActionType, SignedEnvelope } from '../../contracts/eip712.ts';
import type { CliContext, CliGroup } from './cli-context.ts';
import { describeTerms, formatTime, parseAddress, parseId, parseTerms, parseTime, termsOptions, type TermsFlags } from './terms.ts';

const REQUEST_STATUS = ['none', 'pending', 'approved', 'declined', 'cancelled'] as const;
const PARTICIPATION = ['none', 'invited', 'enrolled', 'withdrawn'] as const;

/** Runs a patient action, or with --sign-only prints its signed message and sends nothing. */
async function patientAction<K extends ActionType, R extends TxOutcome>(
  ctx: CliContext,
  type: K,
  fields: (actor: string) => Omit<ActionMessages[K], keyof SignedEnvelope>,
  run: (client: MedRecClient, signer: Signer) => Promise<R>,
  describe: (result: R) => string,
): Promise<void> {
  const client = await ctx.client();
  const signer = await ctx.signer();
  if (ctx.options.signOnly) {
    const signed = await client.sign(signer, type, fields(await signer.getAddress()));
    ctx.print(signed, () => JSON.stringify(signed, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    return;
  }
  const result = await run(client, signer);
  ctx.print(result, () => `${describe(result)}${result.relayed ? ' (relayed)' : ''}`);
}

export const consentCommands: CliGroup = {
  name: 'consent',
  register(program, ctx) {
    const grant = program.command('grant').description('consent grants');
    termsOptions(
      grant
        .command('create <grantee>')
        .description('grant access to your records (or, as a proxy, to --patient)')
        .option('--patient <address>', 'the patient you act for as proxy (default: yourself)'),
    ).action(async (grantee: string, flags: TermsFlags & { patient?: string }) => {
      const terms = parseTerms(flags);
      const granteeAddress = parseAddress(grantee, 'grantee address');
      await patientAction(
        ctx,
        'CreateGrant',
        (actor) => ({ patient: flags.patient ? parseAddress(flags.patient) : actor, grantee: granteeAddress, terms }),
        async (client, signer) =>
          client.createGrant(signer, {
            patient: flags.patient ? parseAddress(flags.patient) : await signer.getAddress(),
            grantee: granteeAddress,
            terms,
          }),
        (r) => `grant #${r.grantId} created`,
      );
    });
    grant
      .command('revoke <grantId>')
      .description('revoke a grant (patient, proxy, or its issuer)')
      .action(async (grantId: string) => {
        const id = parseId(grantId, 'grant id');
        await patientAction(ctx, 'RevokeGrant', () => ({ grantId: id }), (client, signer) => client.revokeGrant(signer, id), () => `grant #${id} revoked`);
      });
    grant
      .command('list')
      .description('grants of a patient or to a grantee (default: given by you)')
      .option('--patient <address>', 'grants given by this patient')
      .option('--grantee <address>', 'grants received by this grantee')
      .option('--active', 'only grants in force now')
      .action(async (flags: { patient?: string; grantee?: string; active?: boolean }) => {
        const client = await ctx.client();
        const filter = flags.grantee
          ? { grantee: parseAddress(flags.grantee) }
          : { patient: flags.patient ? parseAddress(flags.patient) : await (await ctx.signer()).getAddress() };
        const grants = (await client.listGrants(filter)).filter((g) => !flags.active || g.active);
        ctx.print(grants, () =>
          grants.length === 0
            ? 'no grants'
            : grants.map(
                (g) =>
                  `#${g.id} ${g.active ? 'active ' : g.revoked ? 'revoked' : 'inactive'} ${g.patient} -> ${g.grantee}: ${describeTerms(g.terms)}`,
              ),
        );
      });
    grant
      .command('show <grantId>')
      .description('one grant')
      .action(async (grantId: string) => {
        const g = await (await ctx.client()).getGrant(parseId(grantId, 'grant id'));
        ctx.print(g, () => [
          `grant #${g.id} (${g.active ? 'in force' : g.revoked ? 'revoked' : 'not in force'})`,
          `  patient ${g.patient}`,
          `  grantee ${g.grantee}`,
          `  issuer  ${g.issuer}`,
          `  ${describeTerms(g.terms)}`,
          `  created ${formatTime(g.createdAt)}`,
        ]);
      });

    const delegate = program.command('delegate').description('healthcare proxies');
    delegate
      .command('set <proxy>')
      .description('make <proxy> your healthcare proxy')
      .option('--expires <time>', 'end of the mandate (0 = until revoked)', '0')
      .action(async (proxy: string, flags: { expires: string }) => {
        const proxyAddress = parseAddress(proxy, 'proxy address');
        const expiresAt = parseTime(flags.expires);
        await patientAction(
          ctx,
          'SetDelegation',
          () => ({ proxy: proxyAddress, expiresAt }),
          (client, signer) => client.setDelegation(signer, proxyAddress, expiresAt),
          () => `${proxyAddress} is your proxy${expiresAt ? ` until ${formatTime(expiresAt)}` : ''}`,
        );
      });
    delegate
      .command('revoke <patient> <proxy>')
      .description('end a delegation (as the patient or as the proxy)')
      .action(async (patient: string, proxy: string) => {
        const p = parseAddress(patient);
        const x = parseAddress(proxy);
        await patientAction(ctx, 'RevokeDelegation', () => ({ patient: p, proxy: x }), (client, signer) => client.revokeDelegation(signer, p, x), () => 'delegation revoked');
      });
    delegate
      .command('list <patient>')
      .description("a patient's proxies")
      .action(async (patient: string) => {
        const list = await (await ctx.client()).listDelegations(parseAddress(patient));
        ctx.print(list, () =>
          list.length === 0 ? 'no proxies' : list.map((d) => `${d.proxy} ${d.inForce ? 'in force' : 'expired'} until ${formatTime(d.expiresAt)}`),
        );
      });

    const request = program.command('request').description('access requests');
    termsOptions(request.command('create <patient>').description('ask a patient for access')).action(
      async (patient: string, flags: TermsFlags) => {
        const result = await (await ctx.client()).requestAccess(await ctx.signer(), parseAddress(patient), parseTerms(flags));
        ctx.print(result, () => `request #${result.requestId} sent`);
      },
    );
    for (const [verb, approve] of [
      ['approve', true],
      ['decline', false],
    ] as const) {
      request
        .command(`${verb} <requestId>`)
        .description(`${verb} a request made to you (or to the patient you are proxy for)`)
        .action(async (requestId: string) => {
          const id = parseId(requestId, 'request id');
          await patientAction(
            ctx,
            'AnswerRequest',
            () => ({ requestId: id, approve }),
            (client, signer) => client.answerRequest(signer, id, approve),
            (r) => (approve ? `request #${id} approved: grant #${r.grantId}` : `request #${id} declined`),
          );
        });
    }
    request
      .command('cancel <requestId>')
      .description('withdraw your own request')
      .action(async (requestId: string) => {
        const result = await (await ctx.client()).cancelRequest(await ctx.signer(), parseId(requestId, 'request id'));
        ctx.print(result, () => `request #${requestId} cancelled`);
      });
    request
      .command('list')
      .description('requests to a patient (default: to you) or by a requester')
      .option('--patient <address>', 'requests made to this patient')
      .option('--requester <address>', 'requests made by this requester')
      .action(async (flags: { patient?: string; requester?: string }) => {
        const client = await ctx.client();
        const filter = flags.requester
          ? { requester: parseAddress(flags.requester) }
          : { patient: flags.patient ? parseAddress(flags.patient) : await (await ctx.signer()).getAddress() };
        const list = await client.listRequests(filter);
        ctx.print(list, () =>
          list.length === 0
            ? 'no requests'
            : list.map((r) => `#${r.id} ${REQUEST_STATUS[r.status]} ${r.requester} asks ${r.patient}: ${describeTerms(r.terms)}`),
        );
      });

    const study = program.command('study').description('research studies');
    termsOptions(study.command('open <title>').description('open a study (you are its researcher)'), { purpose: 'research' }).action(
      async (title: string, flags: TermsFlags) => {
        const result = await (await ctx.client()).openStudy(await ctx.signer(), title, parseTerms(flags));
        ctx.print(result, () => `study #${result.studyId} opened`);
      },
    );
    study
      .command('invite <studyId> <patients...>')
      .description('invite patients to your study')
      .action(async (studyId: string, patients: string[]) => {
        const result = await (await ctx.client()).invite(await ctx.signer(), parseId(studyId, 'study id'), patients.map((p) => parseAddress(p)));
        ctx.print(result, () => `invited ${patients.length} patient(s) to study #${studyId}`);
      });
    for (const [verb, type] of [
      ['enroll', 'Enroll'],
      ['withdraw', 'Withdraw'],
    ] as const) {
      study
        .command(`${verb} <studyId>`)
        .description(verb === 'enroll' ? 'enroll in a study you were invited to' : 'withdraw from a study (revokes its grant)')
        .option('--patient <address>', 'the patient you act for as proxy (default: yourself)')
        .action(async (studyId: string, flags: { patient?: string }) => {
          const id = parseId(studyId, 'study id');
          const signer = await ctx.signer();
          const patient = flags.patient ? parseAddress(flags.patient) : await signer.getAddress();
          await patientAction(
            ctx,
            type,
            () => ({ studyId: id, patient }),
            (client, s) => (type === 'Enroll' ? client.enroll(s, id, patient) : client.withdraw(s, id, patient)),
            () => `${verb === 'enroll' ? 'enrolled in' : 'withdrew from'} study #${id}`,
          );
        });
    }
    study
      .command('close <studyId>')
      .description('close your study to new invitations and enrolments')
      .action(async (studyId: string) => {
        const result = await (await ctx.client()).closeStudy(await ctx.signer(), parseId(studyId, 'study id'));
        ctx.print(result, () => `study #${studyId} closed`);
      });
    study
      .command('show <studyId>')
      .description('a study and its invited patients')
      .action(async (studyId: string) => {
        const client = await ctx.client();
        const id = parseId(studyId, 'study id');
        const s = await client.getStudy(id);
        const patients = await client.consent.read('studyPatients', id);
        const standing = await Promise.all(patients.map(async (p) => ({ patient: p, ...(await client.getParticipation(id, p)) })));
        ctx.print({ ...s, participants: standing }, () => [
          `study #${id} "${s.title}" by ${s.researcher} (${s.open ? 'open' : 'closed'})`,
          `  ${describeTerms(s.terms)}`,
          ...standing.map((p) => `  ${p.patient} ${PARTICIPATION[p.status]}${p.grantId ? ` (grant #${p.grantId})` : ''}`),
        ]);
      });
  },
};
