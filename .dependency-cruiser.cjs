/**
 * The allowed import graph of src/ (docs/architecture.md draws it).
 * `npm run lint:imports` checks it; .ci/run runs that after the typecheck.
 *
 *   codecs    src/{sip,mgcp,h248,h323,radius,diameter,sdp,rtp}  wire formats and transports
 *   flow      src/flow, src/crypto                        the KS1 method, wire-independent
 *   contracts src/contracts                               what roles share: AucService, RunningRole, the licence API, the voicemail package
 *   adapters  src/adapters/<proto>                        map a protocol onto flow / a contract
 *   roles     src/{auc,softswitch,sbc,terminal,media}     composition roots
 *   shared    src/{config,log,metrics,store,control}      used by roles and the CLI
 *   cli       src/cli                                     starts roles
 *   lib       src/lib                                     neutral helpers on Node alone (literal-first UDP lookup, Map eviction):
 *                                                         every layer may import it; it imports nothing else of src/
 */
const codec = '^src/(sip|mgcp|h248|h323|radius|diameter|sdp|rtp)/';
const adapter = '^src/adapters/';
const role = '^src/(auc|softswitch|sbc|terminal|media)/';
const flow = '^src/(flow|crypto)/';
const shared = '^src/(config|log|metrics|store|control)/';
const lib = '^src/lib/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Files that import each other in a loop cannot be understood, tested or moved one at a time.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'codec-knows-no-upper-layer',
      severity: 'error',
      comment: 'A codec knows its wire format only: no adapter, role, flow, store or contract.',
      from: { path: codec },
      to: { path: [adapter, role, '^src/(flow|store|contracts|cli|control)/'] },
    },
    {
      name: 'flow-knows-no-role-or-codec',
      severity: 'error',
      comment: 'The KS1 flow and its crypto are wire-independent: no role, codec or adapter.',
      from: { path: flow },
      to: { path: [role, codec, adapter, '^src/(store|cli|control)/'] },
    },
    {
      name: 'adapter-knows-no-role',
      severity: 'error',
      comment: 'An adapter maps a protocol onto flow or a contract; roles wire adapters, never the other way round.',
      from: { path: adapter },
      to: { path: [role, '^src/(store|cli|control)/'] },
    },
    {
      name: 'roles-meet-only-through-contracts',
      severity: 'error',
      comment: 'A role is a composition root: what it needs from another role is a type in src/contracts.',
      from: { path: '^src/(auc|softswitch|sbc|terminal|media)/' },
      to: { path: role, pathNot: '^src/$1/' },
    },
    {
      name: 'contracts-are-leaves',
      severity: 'error',
      comment: 'A contract is what two roles share (types, errors, a file format both read); it depends on flow, crypto and src/lib at most.',
      from: { path: '^src/contracts/' },
      to: { path: '^src/', pathNot: ['^src/contracts/', flow, lib] },
    },
    {
      name: 'lib-is-a-leaf',
      severity: 'error',
      comment: 'src/lib is what every layer may import, codecs included: it uses Node and itself only, never another folder of src/.',
      from: { path: lib },
      to: { path: '^src/', pathNot: lib },
    },
    {
      name: 'shared-knows-no-role',
      severity: 'error',
      comment: 'Config, logging, metrics, store and control serve the roles; none of them imports a role, an adapter or the CLI.',
      from: { path: shared },
      to: { path: [role, adapter, '^src/cli/'] },
    },
    {
      name: 'only-roots-import-roles',
      severity: 'error',
      comment: 'Below the roles (any folder that is not a role or the CLI, e.g. src/ids), nothing imports a role.',
      from: { path: '^src/', pathNot: [role, '^src/cli/'] },
      to: { path: role },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'The CLI is the outermost composition root.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'src-imports-no-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.test-dist)/' },
    // `import type` counts: a type-only import is still a dependency between layers.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
