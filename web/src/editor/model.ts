// The editor's document: steps on a canvas and wires between ports, to and from workflow YAML
// (the format `tessera run` reads; see tessera.workflows.spec).
import type { Edge, Node } from "@xyflow/react";
import YAML from "yaml";
import { connects, isList } from "./ports";

export interface PortInfo {
  name: string;
  type: string;
  optional?: boolean;
  description?: string | null;
}

export interface ComponentInfo {
  name: string;
  version?: string;
  kind: string;
  summary?: string;
  inputs: PortInfo[];
  outputs: PortInfo[];
  params: Record<string, unknown>;
  resources?: { cpus?: number; memory_mb?: number; gpus?: number };
}

export interface Variant {
  name: string;
  cpus?: number;
  gpus?: number;
  memory_mb?: number;
}

export interface StepData extends Record<string, unknown> {
  name: string;
  component: string;
  params: Record<string, unknown>;
  resources: { cpus?: number; memory_mb?: number; gpus?: number };
  map: { over?: unknown[]; range?: number | number[]; as?: string; max_running?: number } | null;
  retries: number;
  timeout_s?: number;
  queue?: string;
  variants: Variant[];
  optimize?: "time" | "cost";
  /** live state while a submitted workflow runs */
  state?: string;
  job?: string;
}

export type StepNode = Node<StepData, "step">;

export interface WorkflowMeta {
  name: string;
  project: string;
}

const STEP_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** A fresh, unused step name from a component name (`array.random` → `random`, `random-2`, ...). */
export function stepName(component: string, taken: Set<string>): string {
  let base = component.split(".").pop()!.toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  if (!/^[a-z]/.test(base)) base = "step-" + base;
  base = base.slice(0, 56);
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export function newStep(c: ComponentInfo, taken: Set<string>): StepData {
  return { name: stepName(c.name, taken), component: c.name, params: {}, resources: {}, map: null, retries: 0, variants: [] };
}

/** Steps in dependency order (upstream first); ties by canvas position, top to bottom. */
function ordered(nodes: StepNode[], edges: Edge[]): StepNode[] {
  const indeg = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of edges) indeg.set(e.target, (indeg.get(e.target) ?? 0) + 1);
  const byPos = [...nodes].sort((a, b) => a.position.x - b.position.x || a.position.y - b.position.y);
  const out: StepNode[] = [];
  const done = new Set<string>();
  while (out.length < nodes.length) {
    const next = byPos.find((n) => !done.has(n.id) && (indeg.get(n.id) ?? 0) === 0) ?? byPos.find((n) => !done.has(n.id))!;
    done.add(next.id);
    out.push(next);
    for (const e of edges) if (e.source === next.id) indeg.set(e.target, (indeg.get(e.target) ?? 1) - 1);
  }
  return out;
}

function clean<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") out[k] = v;
  return out as Partial<T>;
}

/** The workflow document (plain data) for the canvas. */
export function toDoc(meta: WorkflowMeta, nodes: StepNode[], edges: Edge[], components: Map<string, ComponentInfo>): Record<string, unknown> {
  const name = new Map(nodes.map((n) => [n.id, n.data.name]));
  const steps = ordered(nodes, edges).map((n) => {
    const d = n.data;
    const comp = components.get(d.component);
    const inputs: Record<string, string | string[]> = {};
    for (const e of edges.filter((e) => e.target === n.id)) {
      const port = e.targetHandle ?? "";
      const wire = `${name.get(e.source)}.${e.sourceHandle}`;
      const type = comp?.inputs.find((p) => p.name === port)?.type ?? "";
      const prev = inputs[port];
      if (prev === undefined) inputs[port] = type.startsWith("list[") ? [wire] : wire;
      else inputs[port] = [...(Array.isArray(prev) ? prev : [prev]), wire];
    }
    // A list input fed by exactly one mapped step is written as a plain wire (it gathers).
    for (const [port, v] of Object.entries(inputs)) if (Array.isArray(v) && v.length === 1) inputs[port] = v[0];
    const step: Record<string, unknown> = { name: d.name, component: d.component };
    // a mapped parameter takes each item in turn: it is not set under params as well
    const params = Object.fromEntries(Object.entries(d.params).filter(([k]) => !(d.map && k === (d.map.as ?? "item"))));
    if (Object.keys(params).length) step.params = params;
    if (Object.keys(inputs).length) step.inputs = inputs;
    if (d.map) step.map = clean(d.map);
    const res = clean(d.resources);
    if (Object.keys(res).length) step.resources = res;
    if (d.retries) step.retries = d.retries;
    if (d.timeout_s) step.timeout_s = d.timeout_s;
    if (d.queue) step.queue = d.queue;
    if (d.variants.length) step.placement = clean({ variants: d.variants.map((v) => clean({ ...v })), optimize: d.optimize });
    return step;
  });
  const doc: Record<string, unknown> = { name: meta.name };
  if (meta.project && meta.project !== "default") doc.project = meta.project;
  doc.steps = steps;
  return doc;
}

export function toYaml(meta: WorkflowMeta, nodes: StepNode[], edges: Edge[], components: Map<string, ComponentInfo>): string {
  return YAML.stringify(toDoc(meta, nodes, edges, components), { lineWidth: 0 });
}

/**
 * Steps that run as arrays: those with their own `map`, and those fed element by element ("each")
 * by a mapped step, as tessera.workflows.plan decides.
 */
export function mappedSteps(nodes: StepNode[], edges: Edge[], components: Map<string, ComponentInfo>): Set<string> {
  const out = new Set(nodes.filter((n) => n.data.map !== null).map((n) => n.id));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of edges) {
      if (out.has(e.target) || !out.has(e.source)) continue;
      const src = byId.get(e.source);
      const dst = byId.get(e.target);
      const o = src && components.get(src.data.component)?.outputs.find((p) => p.name === e.sourceHandle);
      const i = dst && components.get(dst.data.component)?.inputs.find((p) => p.name === e.targetHandle);
      if (o && i && connects(o.type, i.type, true) === "each") {
        out.add(e.target);
        grew = true;
      }
    }
  }
  return out;
}

/** Problems the editor can see before asking the server (the server's `validate` is the judge). */
export function problems(meta: WorkflowMeta, nodes: StepNode[], edges: Edge[], components: Map<string, ComponentInfo>): string[] {
  const out: string[] = [];
  if (!STEP_NAME.test(meta.name)) out.push("the workflow name must be lower-case letters, digits, '_' or '-', starting with a letter");
  if (nodes.length === 0) out.push("the workflow has no steps: drag a component from the palette");
  const seen = new Set<string>();
  for (const n of nodes) {
    const d = n.data;
    if (!STEP_NAME.test(d.name)) out.push(`step ${d.name || "(unnamed)"}: a step name is lower-case letters, digits, '_' or '-', starting with a letter`);
    if (seen.has(d.name)) out.push(`the step name ${d.name} is used twice`);
    seen.add(d.name);
    const comp = components.get(d.component);
    if (!comp) {
      out.push(`step ${d.name}: component ${d.component} is not in the registry`);
      continue;
    }
    const mapped = mappedSteps(nodes, edges, components);
    for (const p of comp.inputs) {
      const wires = edges.filter((e) => e.target === n.id && e.targetHandle === p.name);
      if (!p.optional && wires.length === 0) out.push(`step ${d.name}: input ${p.name} (${p.type}) is not connected`);
      if (isList(p.type) && wires.length === 1 && !mapped.has(wires[0].source))
        out.push(`step ${d.name}: input ${p.name} is ${p.type}: wire a mapped step, or two or more steps`);
    }
  }
  return out;
}

/** Rebuild a canvas from workflow YAML, laid out left to right by dependency depth. */
export function fromYaml(text: string, components: Map<string, ComponentInfo>): { meta: WorkflowMeta; nodes: StepNode[]; edges: Edge[] } {
  const doc = YAML.parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.steps)) throw new Error("not a workflow: it needs a list of steps");
  const steps = doc.steps as Record<string, unknown>[];
  const meta: WorkflowMeta = { name: String(doc.name ?? "workflow"), project: String(doc.project ?? "default") };
  const edges: Edge[] = [];
  const depth = new Map<string, number>();
  const wires = (s: Record<string, unknown>): [string, string, string][] => {
    const out: [string, string, string][] = [];
    for (const [port, src] of Object.entries((s.inputs as Record<string, string | string[]>) ?? {}))
      for (const w of Array.isArray(src) ? src : [src]) {
        const [step, output] = String(w).split(".");
        out.push([port, step, output]);
      }
    return out;
  };
  const depthOf = (name: string, guard = 0): number => {
    if (depth.has(name)) return depth.get(name)!;
    const s = steps.find((x) => x.name === name);
    if (!s || guard > steps.length) return 0;
    const d = Math.max(0, ...wires(s).map(([, up]) => depthOf(up, guard + 1) + 1));
    depth.set(name, d);
    return d;
  };
  const rows = new Map<number, number>();
  const nodes: StepNode[] = steps.map((s) => {
    const name = String(s.name);
    const col = depthOf(name);
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    const placement = (s.placement as { variants?: Variant[]; optimize?: "time" | "cost" }) ?? {};
    const comp = String(s.component);
    if (!components.has(comp)) throw new Error(`step ${name}: component ${comp} is not in the registry`);
    return {
      id: name,
      type: "step",
      position: { x: 40 + col * 300, y: 40 + row * 180 },
      data: {
        name,
        component: comp,
        params: (s.params as Record<string, unknown>) ?? {},
        resources: (s.resources as StepData["resources"]) ?? {},
        map: (s.map as StepData["map"]) ?? null,
        retries: Number(s.retries ?? 0),
        timeout_s: s.timeout_s as number | undefined,
        queue: s.queue as string | undefined,
        variants: placement.variants ?? [],
        optimize: placement.optimize,
      },
    };
  });
  for (const s of steps)
    for (const [port, up, output] of wires(s)) edges.push({ id: `${up}.${output}->${s.name}.${port}`, source: up, sourceHandle: output, target: String(s.name), targetHandle: port });
  return { meta, nodes, edges };
}
