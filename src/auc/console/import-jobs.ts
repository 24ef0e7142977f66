import { randomBytes } from 'node:crypto';
import type { ImportReport } from '../import.js';

export interface ImportJob {
  id: string;
  /** The session that started it: only that session sees it (its generated keys are in it). */
  owner: string;
  total: number;
  done: number;
  startedAt: number;
  report?: ImportReport;
  failed?: string;
  /** Generated keys are shown once: after that the report keeps only their identities. */
  keysShown: boolean;
}

const MAX_JOBS = 50;
const KEEP_MS = 3600_000;

/**
 * Bulk imports started from the console, run in the background so that the
 * page can show progress. In memory: a restart forgets them (what was
 * imported is in the store and the audit).
 */
export class ImportJobs {
  readonly #jobs = new Map<string, ImportJob>();

  constructor(private readonly now: () => number) {}

  start(owner: string, run: (onProgress: (done: number, total: number) => void) => Promise<ImportReport>, onError: (err: Error) => void): ImportJob {
    this.#sweep();
    const job: ImportJob = { id: randomBytes(16).toString('base64url'), owner, total: 0, done: 0, startedAt: this.now(), keysShown: false };
    this.#jobs.set(job.id, job);
    run((done, total) => {
      job.done = done;
      job.total = total;
    }).then(
      (report) => {
        job.report = report;
        job.done = job.total = report.total;
      },
      (err: Error) => {
        // rows fail one by one inside the import; an error here is unexpected, and its text may carry SQL
        job.failed = 'The import stopped on an error; the AuC log has the cause. Rows before it were imported (see the audit).';
        onError(err);
      },
    );
    return job;
  }

  get(id: string, owner: string): ImportJob | undefined {
    const j = this.#jobs.get(id);
    return j && j.owner === owner ? j : undefined;
  }

  /** The report for display; its generated keys the first time only. */
  reveal(job: ImportJob): { report: ImportReport; keys: boolean } | undefined {
    if (!job.report) return undefined;
    const keys = !job.keysShown;
    const report = { ...job.report, generated: [...job.report.generated] };
    if (!job.keysShown) {
      job.keysShown = true;
      job.report.generated = job.report.generated.map((g) => ({ idc: g.idc, key: '' }));
    }
    return { report, keys };
  }

  #sweep(): void {
    const t = this.now();
    for (const [id, j] of this.#jobs) if ((j.report || j.failed) && t - j.startedAt > KEEP_MS) this.#jobs.delete(id);
    // still full: the oldest finished job goes (a running one is never dropped mid-way)
    for (const [id, j] of this.#jobs) {
      if (this.#jobs.size < MAX_JOBS) break;
      if (j.report || j.failed) this.#jobs.delete(id);
    }
  }
}
