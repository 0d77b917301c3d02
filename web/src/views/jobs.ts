// The job record as the API returns it (tessera/server/wire.py's job_json), and what the views
// derive from it.
import { useResource } from "../ui/useResource";

export interface Job {
  id: string;
  job_id: number;
  name?: string | null;
  state: string;
  reason?: string | null;
  reason_detail?: string | null;
  project?: string;
  queue?: string;
  priority?: number;
  cpus?: number;
  memory_mb?: number | null;
  gpus?: number;
  attempts?: number;
  exit_code?: number | null;
  submitted_at?: number;
  started_at?: number | null;
  ended_at?: number | null;
  runtime_s?: number | null;
  is_array?: boolean;
  array_id?: number | null;
  counts?: Record<string, number> | null;
  spec?: { placement?: { chosen?: { variant?: string } | null } | null; [k: string]: unknown };
}

export const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

/** The device a job runs on: the placed variant if tessera chose one, else what it asked for. */
export function device(job: Job, placement?: Record<string, unknown> | null): string {
  const gpuIds = placement?.["gpus"];
  if (Array.isArray(gpuIds) && gpuIds.length) return `gpu ${gpuIds.join(",")}`;
  const variant = job.spec?.placement?.chosen?.variant;
  const kind = job.gpus ? `gpu ×${job.gpus}` : "cpu";
  return variant ? `${variant} (${kind})` : kind;
}

export function jobRuntime(job: Job): number | null {
  if (job.runtime_s !== undefined && job.runtime_s !== null) return job.runtime_s;
  if (job.started_at && !FINAL.has(job.state)) return Date.now() / 1000 - job.started_at;
  return null;
}

interface CostGroups {
  groups: { job?: string; usd: number }[];
}

/**
 * Dollars per job ref from the cost ledger (GET /costs?group_by=job), or null where this build
 * has no ledger. An array's own row sums its elements.
 */
export function useJobCosts(): Map<string, number> | null {
  const [res] = useResource<CostGroups>("/costs?group_by=job", 10000);
  if (res.status !== "ok") return null;
  const out = new Map<string, number>();
  for (const g of res.data.groups) {
    if (!g.job) continue;
    out.set(g.job, (out.get(g.job) ?? 0) + g.usd);
    const parent = g.job.split("_")[0];
    if (parent !== g.job) out.set(parent, (out.get(parent) ?? 0) + g.usd);
  }
  return out;
}
