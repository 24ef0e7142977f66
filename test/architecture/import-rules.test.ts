import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** Runs the project's import rules (.dependency-cruiser.cjs) over a small tree of files. */
async function violations(files: Record<string, string>): Promise<Violation[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-imports-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    const bin = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
    const { stdout } = await run(process.execPath, [bin, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'], { cwd: dir }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('import rules (npm run lint:imports)', () => {
  it('refuses each forbidden edge of docs/architecture.md and lets the allowed ones through', async () => {
    const found = await violations({
      'src/contracts/auc.ts': 'export interface AucService { x: number }\n',
      'src/crypto/ks1.ts': "import type { AucService } from '../contracts/auc.js';\nexport type K = AucService;\n",
      'src/sip/message.ts': "import { flow } from '../flow/index.js';\nexport const m = flow;\n",
      'src/flow/index.ts': "import { role } from '../sbc/role.js';\nexport const flow = role;\n",
      'src/adapters/sip/ks1.ts': "import { registrar } from '../../softswitch/registrar.js';\nimport type { K } from '../../crypto/ks1.js';\nexport const a: K | number = registrar;\n",
      'src/softswitch/registrar.ts': "import type { AucService } from '../contracts/auc.js';\nexport const registrar = 1 as AucService['x'];\n",
      'src/sbc/role.ts': "import { registrar } from '../softswitch/registrar.js';\nimport { a } from '../adapters/sip/ks1.js';\nimport { helper } from './helper.js';\nexport const role = registrar + helper + Number(a);\n",
      'src/sbc/helper.ts': 'export const helper = 1;\n',
      'src/store/index.ts': "import { role } from '../sbc/role.js';\nexport const store = role;\n",
      'src/media/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'src/media/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    });
    const edges = found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(edges).toContain('codec-knows-no-upper-layer: src/sip/message.ts → src/flow/index.ts');
    expect(edges).toContain('flow-knows-no-role-or-codec: src/flow/index.ts → src/sbc/role.ts');
    expect(edges).toContain('adapter-knows-no-role: src/adapters/sip/ks1.ts → src/softswitch/registrar.ts');
    expect(edges).toContain('roles-meet-only-through-contracts: src/sbc/role.ts → src/softswitch/registrar.ts');
    expect(edges).toContain('shared-knows-no-role: src/store/index.ts → src/sbc/role.ts');
    expect(edges.some((e) => e.startsWith('no-circular: src/media/'))).toBe(true);
    // allowed: crypto and roles through a contract, a role within its own folder, a role using an adapter
    for (const ok of ['src/crypto/ks1.ts → src/contracts/auc.ts', 'src/softswitch/registrar.ts → src/contracts/auc.ts', 'src/sbc/role.ts → src/sbc/helper.ts', 'src/sbc/role.ts → src/adapters/sip/ks1.ts']) {
      expect(edges.filter((e) => e.endsWith(ok)), ok).toEqual([]);
    }
  }, 60_000);

  it('lets every layer import src/lib and src/lib import nothing of src/ but itself', async () => {
    const found = await violations({
      'src/lib/helper.ts': "import { other } from './other.js';\nexport const helper = other;\n",
      'src/lib/other.ts': 'export const other = 1;\n',
      'src/lib/bad.ts': "import { m } from '../sip/message.js';\nexport const bad = m;\n",
      'src/sip/message.ts': "import { helper } from '../lib/helper.js';\nexport const m = helper;\n",
      'src/contracts/auc.ts': "import { helper } from '../lib/helper.js';\nexport const c = helper;\n",
      'src/flow/index.ts': "import { helper } from '../lib/helper.js';\nexport const f = helper;\n",
      'src/adapters/sip/a.ts': "import { helper } from '../../lib/helper.js';\nexport const a = helper;\n",
      'src/store/index.ts': "import { helper } from '../lib/helper.js';\nexport const s = helper;\n",
      'src/auc/role.ts': "import { helper } from '../lib/helper.js';\nexport const r = helper;\n",
    });
    const edges = found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(edges).toEqual(['lib-is-a-leaf: src/lib/bad.ts → src/sip/message.ts']);
  }, 60_000);
});
