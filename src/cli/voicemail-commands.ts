/**
 * `keyswitch voicemail …`: the operator's voicemail commands on the store
 * (docs/voicemail.md): list messages and their grants, revoke one, set or
 * remove a subscriber's voicemail password. The same actions and audit as
 * the provisioning API (src/auc/licence/operator.ts).
 */
import type { Command } from 'commander';
import { listMessages, revokeMessage, setVoicemailPassword } from '../auc/licence/operator.js';
import { cliActor, UsageError, withStore, type GlobalFlags } from './context.js';
import { readSecret, secretHelp, StdinOnce } from './secret-input.js';

const count = (v: string, what: string, max: number) => {
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) > max) throw new UsageError(`${what} must be a whole number up to ${max}`);
  return Number(v);
};

export function addVoicemailCommands(program: Command, g: () => GlobalFlags): void {
  const vm = program.command('voicemail').description('voicemail messages, their licences and subscribers\' voicemail passwords (docs/voicemail.md)');
  vm.command('list')
    .description('list messages with owner, sender, length and each grant\'s rights left (never a key)')
    .option('--offset <n>', 'skip this many', '0')
    .option('--limit <n>', 'at most this many (up to 500)', '50')
    .option('--json', 'print one JSON line')
    .action(async (o: { offset: string; limit: string; json?: boolean }) =>
      withStore(g(), async (store) => {
        const page = await listMessages(store, count(o.offset, '--offset', 1e6), Math.max(1, count(o.limit, '--limit', 500)));
        if (o.json) return console.log(JSON.stringify(page));
        for (const m of page.items) {
          console.log(`${m.id}\t${m.owner}\tfrom ${m.sender || m.senderDisplay || 'outside caller'}\t${(m.durationMs / 1000).toFixed(1)} s\t${m.recordedAt}\t${m.status}`);
          for (const gr of m.grants) {
            console.log(`  ${gr.holder}${gr.grantedBy === 'deposit' ? '' : ` (from ${gr.grantedBy})`}\tplays left ${gr.playsLeft ?? 'no limit'}\texpires ${gr.expiresAt ?? 'never'}\t${gr.mayForward ? 'may forward' : 'no forward'}\t${gr.status}`);
          }
        }
        process.stderr.write(`${page.items.length} of ${page.total} messages\n`);
      }),
    );
  vm.command('revoke <messageId>')
    .description('revoke a message: nobody gets a licence for it any more (audited)')
    .option('--json', 'print one JSON line')
    .action(async (id: string, o: { json?: boolean }) =>
      withStore(g(), async (store) => {
        const v = await revokeMessage(store, id, cliActor());
        if (!v) throw new UsageError(`no voicemail message ${JSON.stringify(id)}`);
        console.log(o.json ? JSON.stringify(v) : `message ${id} revoked`);
      }),
    );
  const h = secretHelp('password', 'the voicemail password (8 to 256 characters)');
  vm.command('password <idc>')
    .description('set or remove a subscriber\'s voicemail password, used to sign in to the voicemail page and for licence requests (a KS1-only terminal has no other)')
    .option('--password <password>', h.value)
    .option('--password-file <path>', h.file)
    .option('--password-stdin', h.stdin)
    .option('--remove', 'remove it (the SIP password, if any, signs in again)')
    .option('--json', 'print one JSON line')
    .action(async (idc: string, o: { password?: string; passwordFile?: string; passwordStdin?: boolean; remove?: boolean; json?: boolean }) => {
      const pw = readSecret('password', { value: o.password, file: o.passwordFile, stdin: o.passwordStdin }, new StdinOnce());
      if ((pw === undefined) === !o.remove) throw new UsageError('give a password (--password, --password-file or --password-stdin) or --remove');
      await withStore(g(), async (store) => {
        const r = await setVoicemailPassword(store, idc, pw ?? null, cliActor());
        if ('refused' in r) throw new UsageError(r.refused);
        console.log(o.json ? JSON.stringify(r) : `terminal ${idc}: voicemail password ${r.voicemailPassword}`);
      });
    });
}
