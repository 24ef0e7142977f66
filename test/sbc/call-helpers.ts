/** Two terminals in a call through a lab SBC, with hooks for tests that attack the call while it runs. */
import { answerCalls, placeCall, type AnswerOptions, type CallEvent, type CallExit, type DialogInfo } from '../../src/terminal/call.js';
import type { Lab } from './setup.js';

export interface CallRun {
  code: number;
  answerCode: number;
  caller: CallEvent[];
  callee: CallEvent[];
}

/**
 * A terminal answering calls (`answerCalls`), its events kept; resolves once it is registered, and
 * rejects if it could not register. `done` is answerCalls' own result.
 */
export async function answering(o: Omit<AnswerOptions, 'onEvent'> & Partial<Pick<AnswerOptions, 'onEvent'>>): Promise<{ events: CallEvent[]; done: Promise<CallExit> }> {
  const events: CallEvent[] = [];
  let ready!: () => void;
  let failed!: (e: Error) => void;
  const registered = new Promise<void>((r, j) => {
    ready = r;
    failed = j;
  });
  const done = answerCalls({
    ...o,
    onEvent: (e) => {
      events.push(e);
      o.onEvent?.(e);
      if (e.event === 'registered') ready();
      if (e.event === 'failed') failed(new Error(e.error));
    },
  });
  await registered;
  return { events, done };
}

/** Starts a callee answering `calls` calls (it gives up after `timeoutSeconds`, default 20); resolves once it is registered. */
export async function callee(lab: Lab, idc: string, o: { calls?: number; mechs?: string; sbcPort?: number; timeoutSeconds?: number } = {}): Promise<{ events: CallEvent[]; done: Promise<number> }> {
  const kc = lab.provision(idc);
  return answering({
    ...lab.terminal(idc, kc), mechs: o.mechs ?? 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: o.sbcPort ?? lab.sbc.ports.udp! },
    calls: o.calls ?? 1, timeoutSeconds: o.timeoutSeconds ?? 20,
  });
}

/** Places a call; `during` starts once it is answered. The call ends after `holdSeconds` whatever `during` is doing; the result waits for both. */
export async function call(
  lab: Lab, from: string, to: string,
  o: { holdSeconds?: number; mechs?: string; sbcPort?: number; kc?: Buffer; during?: (d: { callId: string; dialog: DialogInfo }) => Promise<void> } = {},
): Promise<{ code: number; events: CallEvent[]; during: Promise<void> | undefined }> {
  const kc = lab.provision(from, o.kc);
  const events: CallEvent[] = [];
  let during: Promise<void> | undefined;
  const code = await placeCall({
    ...lab.terminal(from, kc), mechs: o.mechs ?? 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: o.sbcPort ?? lab.sbc.ports.udp! },
    to, holdSeconds: o.holdSeconds ?? 0,
    onEvent: (e) => {
      events.push(e);
      if (e.event === 'answered' && e.dialog && o.during) during = o.during({ callId: e.callId, dialog: e.dialog });
    },
  });
  if (during) await during;
  return { code, events, during };
}
