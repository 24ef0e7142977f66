/** A terminal under test control: KS1 steps by hand, so tests can break them one at a time. */
import { TerminalFlow } from '../../src/flow/terminal.js';
import { decodeS6, encodeS1Authorization, encodeS7 } from '../../src/adapters/sip/terminal-ks1.js';
import { newCallId, newTag, SipUac } from '../../src/terminal/sip-uac.js';
import type { AppHmacSigner } from '../../src/crypto/app-hmac.js';
import type { S7 } from '../../src/flow/messages.js';
import type { SipResponse } from '../../src/sip/index.js';
import { FAST, type Lab } from './setup.js';

export interface Raw {
  uac: SipUac;
  flow: TerminalFlow;
  /** A REGISTER in this terminal's registration dialog (same Call-ID, rising CSeq). */
  register(headers: Array<[string, string]>, signer?: AppHmacSigner): Promise<SipResponse>;
  request(method: string, uri: string, headers?: Array<[string, string]>, signer?: AppHmacSigner): Promise<SipResponse>;
  /** s1 → the 401, and the s7 the flow makes from it. */
  challenge(): Promise<{ res: SipResponse; s7: S7 }>;
  s7Headers(s7: S7): Array<[string, string]>;
  close(): Promise<void>;
}

export async function rawTerminal(lab: Lab, idc: string, kc: Buffer, o: { transport?: 'udp' | 'tcp'; mechs?: string; port?: number } = {}): Promise<Raw> {
  const transport = o.transport ?? 'udp';
  const uac = await SipUac.open({ transport, server: { host: '127.0.0.1', port: o.port ?? (transport === 'udp' ? lab.sbc.ports.udp! : lab.sbc.ports.tcp!) }, timers: FAST });
  const flow = new TerminalFlow({ idc, kc, mechanisms: o.mechs ?? 'app-hmac;q=0.5' });
  const callId = newCallId();
  const tag = newTag();
  let cseq = 0;
  const raw: Raw = {
    uac,
    flow,
    register: (headers, signer) =>
      uac.send({ method: 'REGISTER', requestUri: 'sip:lab.example', aor: idc, callId, cseq: ++cseq, fromTag: tag, headers: [['Contact', uac.contact(idc)], ...headers], ...(signer ? { signer } : {}) }),
    request: (method, uri, headers = [], signer) =>
      uac.send({ method, requestUri: uri, aor: idc, callId: newCallId(), cseq: 1, fromTag: newTag(), headers, ...(signer ? { signer } : {}) }),
    async challenge() {
      const res = await raw.register([['Authorization', encodeS1Authorization(flow.start())]]);
      if (res.status !== 401) throw new Error(`expected 401, got ${res.status}`);
      const r = flow.onChallenge(decodeS6(res, idc)!);
      if (!r.ok) throw new Error(r.error);
      return { res, s7: r.value };
    },
    s7Headers(s7) {
      const e = encodeS7(s7);
      return [['Authorization', e.authorization], ['Security-Client', e.securityClient]];
    },
    close: () => uac.close(),
  };
  return raw;
}
