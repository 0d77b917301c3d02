// The job record as the API returns it (server/wire.py's job_json), and what the views derive from it.
import { runtime } from "../ui/format";

export interface Job {
  id: string;
  job_id: number;
  name?: string | null;
  state: string;
  reason?: string | null;
  reason_detail?: string | null;
  project?: string;
  queue?: string;
  cpus?: number;
  memory_mb?: number | null;
  gpus?: number;
  attempts?: number;
  exit_code?: number | null;
  submitted_at?: number;
  started_at?: number | null;
  ended_at?: number | null;
  runtime_s?: number | null;
  cost_usd?: number | null;
  device?: string | null;
  placement?: Record<string, unknown> | null;
  spec?: Record<string, unknown>;
  counts?: Record<string, number> | null;
  is_array?: boolean;
}

export const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

/** Where the job ran or will run: the API's device, else its placement, else what it asked for. */
export function device(job: Job): string {
  if (job.device) return job.device;
  const p = job.placement;
  if (p && typeof p === "object") {
    const gpus = p["gpus"];
    if (Array.isArray(gpus) && gpus.length) return `gpu ${gpus.join(",")}`;
    if (typeof p["device"] === "string") return p["device"] as string;
  }
  if (job.gpus) return `${job.gpus} gpu (asked)`;
  return "cpu";
}

export function jobRuntime(job: Job): number | null {
  return job.runtime_s ?? runtime(job.started_at, job.ended_at);
}
