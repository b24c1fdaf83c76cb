/**
 * The `medrec` command groups. A room adds its own group by writing a `CliGroup` in its own file
 * (e.g. server/cli/hl7.ts exporting `hl7Commands` for `medrec hl7 dead-letters list|replay`) and
 * listing it here: one import, one entry.
 */
import type { CliGroup } from './cli-context.ts';
import { consentCommands } from './consent-commands.ts';
import { hl7Commands } from './hl7.ts';
import { networkCommands } from './network-commands.ts';

export const CLI_GROUPS: readonly CliGroup[] = [networkCommands, consentCommands, hl7Commands];
