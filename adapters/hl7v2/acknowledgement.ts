/**
 * ACK messages and the acknowledgement mode a message asks for.
 *
 * Original mode (MSH-15 and MSH-16 empty): one ACK, AA once the message is durably accepted,
 * AE/AR when refused. Enhanced mode (either set): an accept ACK (CA/CE/CR) by the MSH-15
 * condition once durably accepted, then an application ACK (AA/AE) by the MSH-16 condition once
 * converted. Conditions: AL always, NE never, ER only on error, SU only on success.
 */
import { escapeEr7, type Delimiters, type Er7Message } from './er7.ts';
import type { Refusal } from './conversion/message-conversion.ts';

export type AckCondition = 'AL' | 'NE' | 'ER' | 'SU';

export interface AckMode {
  readonly enhanced: boolean;
  readonly accept: AckCondition;
  readonly application: AckCondition;
}

const CONDITIONS = new Set(['AL', 'NE', 'ER', 'SU']);

export function ackModeOf(message: Er7Message): AckMode {
  const accept = message.msh.get(15).toUpperCase();
  const application = message.msh.get(16).toUpperCase();
  if (!accept && !application) return { enhanced: false, accept: 'AL', application: 'NE' };
  return {
    enhanced: true,
    accept: CONDITIONS.has(accept) ? (accept as AckCondition) : 'AL',
    application: CONDITIONS.has(application) ? (application as AckCondition) : 'NE',
  };
}

export function wanted(condition: AckCondition, success: boolean): boolean {
  return condition === 'AL' || (condition === 'ER' && !success) || (condition === 'SU' && success);
}

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

const DEFAULT_DELIMITERS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

let counter = 0;

/** A fresh ACK control id (≤ 20 characters, unique within the process). */
function ackControlId(): string {
  counter = (counter + 1) % 1_679_616;
  return `A${Date.now().toString(36)}${counter.toString(36).padStart(4, '0')}`.slice(0, 20);
}

function hl7Now(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

export interface AckDetails {
  readonly code: AckCode;
  /** MSA-3 text (no PHI). */
  readonly text?: string;
  readonly error?: Pick<Refusal, 'hl7Code' | 'text' | 'location'>;
}

/**
 * Builds an ACK for a message (swapping sender and receiver, echoing MSH-10 in MSA-2), or for
 * an unreadable frame when `message` is undefined (MSA-2 then carries `controlId` if one could be
 * salvaged). The reply uses the message's own delimiters.
 */
export function buildAck(message: Er7Message | undefined, details: AckDetails, salvagedControlId = ''): string {
  const d = message?.delimiters ?? DEFAULT_DELIMITERS;
  const f = d.field;
  const encoding = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  const msh = message?.msh;
  const version = msh?.get(12) || '2.5.1';
  const trigger = message?.messageType.trigger ?? '';
  const structure = `ACK${d.component}${escapeEr7(trigger, d)}${d.component}ACK`;
  const header = [
    'MSH', encoding, msh?.rawField(5) ?? '', msh?.rawField(6) ?? '', msh?.rawField(3) ?? '', msh?.rawField(4) ?? '',
    hl7Now(), '', structure, ackControlId(), msh?.rawField(11) || 'P', escapeEr7(version, d),
  ].join(f);
  const controlId = message ? msh!.rawField(10) : escapeEr7(salvagedControlId, d);
  const segments = [header, ['MSA', details.code, controlId, details.text ? escapeEr7(details.text, d) : ''].join(f).replace(new RegExp(`${escapeRegExp(f)}+$`), '')];
  if (details.error) segments.push(errSegment(details.error, version, d));
  return segments.join('\r') + '\r';
}

/** ERR: v2.5+ uses ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message; older versions ERR-1. */
function errSegment(error: Pick<Refusal, 'hl7Code' | 'text' | 'location'>, version: string, d: Delimiters): string {
  const f = d.field;
  const c = d.component;
  const text = escapeEr7(error.text, d);
  const location = error.location.split('^').map((p) => escapeEr7(p, d)).join(c);
  const [major = 2, minor = 5] = version.split('.').map(Number);
  if (major === 2 && minor < 5) {
    const locParts = error.location.split('^');
    const eld = [locParts[0] ?? '', locParts[1] ?? '', locParts[2] ?? '', [error.hl7Code, text, 'HL70357'].join(d.subcomponent)];
    return ['ERR', eld.join(c)].join(f);
  }
  return ['ERR', '', location, [error.hl7Code, text, 'HL70357'].join(c), 'E', '', '', '', text].join(f);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The error text of a refusal for the dead-letter reason (positions and codes, no message content). */
export function refusalReason(r: Refusal): string {
  return `${r.ackCode} ${r.hl7Code} at ${r.location || 'message'}: ${r.text}`;
}
