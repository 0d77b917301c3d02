// The workflow routes the editor and the workflows view use.
import { ApiError, get, items, send } from "./api";
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
  return items<ComponentInfo>(await get<unknown>("/components"));
}

export interface Validation {
  ok: boolean;
  errors: string[];
}

/** Ask the server whether the YAML is a valid workflow (wiring, port types, parameters, cycles). */
export async function validate(yaml: string): Promise<Validation> {
  try {
    await send<unknown>("POST", "/workflows/validate", { yaml });
    return { ok: true, errors: [] };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 400 || e.status === 422)) return { ok: false, errors: [e.message + (e.fix ? `\nTo fix: ${e.fix}` : "")] };
    throw e;
  }
}

export async function submit(yaml: string): Promise<WorkflowRun> {
  return send<WorkflowRun>("POST", "/workflows", { yaml });
}

export async function getRun(id: string | number): Promise<WorkflowRun> {
  return get<WorkflowRun>(`/workflows/${id}`);
}
