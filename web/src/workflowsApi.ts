// The workflow routes the editor and the workflows view use.
import { get, items, send } from "./api";
import type { ComponentInfo } from "./editor/model";

export interface StepRun {
  name: string;
  state: string;
  job_id?: string | number | null;
  jobs?: (string | number)[];
  [k: string]: unknown;
}

export interface WorkflowRun {
  id: string | number;
  name: string;
  state: string;
  steps: StepRun[];
  submitted_at?: number;
  [k: string]: unknown;
}

export async function listComponents(): Promise<ComponentInfo[]> {
  return items<ComponentInfo>(await get<unknown>("/components"), "components");
}

export interface Validation {
  ok: boolean;
  errors: string[];
}

/** Ask the server whether the YAML is a valid workflow (wiring, types, parameters). */
export async function validate(yaml: string): Promise<Validation> {
  const r = await send<{ ok?: boolean; valid?: boolean; errors?: string[]; error?: string; what?: string; fix?: string }>("POST", "/workflows/validate", { yaml });
  const ok = r.ok ?? r.valid ?? !(r.errors && r.errors.length);
  return { ok, errors: r.errors ?? (r.what || r.error ? [[r.what ?? r.error, r.fix ? `To fix: ${r.fix}` : ""].join(" ")] : []) };
}

export async function submit(yaml: string): Promise<WorkflowRun> {
  return send<WorkflowRun>("POST", "/workflows", { yaml });
}

export async function getRun(id: string | number): Promise<WorkflowRun> {
  return get<WorkflowRun>(`/workflows/${id}`);
}
