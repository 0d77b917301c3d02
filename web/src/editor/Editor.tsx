// The workflow editor: palette → canvas (drag and drop), typed wiring, schema forms, validate,
// save/load YAML, submit and watch each step's state live.
import {
  addEdge,
  Background,
  Controls,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type IsValidConnection,
  type OnConnectEnd,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { ApiError, Missing } from "../api";
import { poll } from "../ui/poll";
import { getRun, listComponents, submit, validate, type WorkflowRun } from "../workflowsApi";
import { ComponentsContext } from "./context";
import { Inspector } from "./Inspector";
import { fromYaml, mappedSteps, newStep, problems, toYaml, type ComponentInfo, type StepData, type StepNode as StepNodeT, type WorkflowMeta } from "./model";
import { DRAG_TYPE, Palette } from "./Palette";
import { isList, wireKind } from "./ports";
import { StepNode } from "./StepNode";

const nodeTypes = { step: StepNode };
const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

type Message = { kind: "ok" | "error" | "info"; text: string; lines?: string[] };

function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message + (e.fix ? `\nTo fix: ${e.fix}` : "");
  return e instanceof Error ? e.message : String(e);
}

function Canvas({ components }: { components: ComponentInfo[] }) {
  const byName = useMemo(() => new Map(components.map((c) => [c.name, c])), [components]);
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNodeT>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [meta, setMeta] = useState<WorkflowMeta>({ name: "my-workflow", project: "default" });
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState<Message | null>(null);
  const [yamlText, setYamlText] = useState<string | null>(null);
  const [run, setRun] = useState<WorkflowRun | null>(null);
  const flow = useReactFlow();
  const counter = useRef(0);

  const yaml = () => toYaml(meta, nodes, edges, byName);

  const add = useCallback(
    (name: string, position = { x: 80 + 40 * (counter.current % 6), y: 80 + 40 * (counter.current % 6) }) => {
      const comp = byName.get(name);
      if (!comp) return;
      counter.current += 1;
      setNodes((ns) => {
        const data = newStep(comp, new Set(ns.map((n) => n.data.name)));
        const id = `n${Date.now().toString(36)}${counter.current}`;
        setSelected(id);
        return [...ns, { id, type: "step", position, data }];
      });
      setRun(null);
    },
    [byName, setNodes],
  );

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const name = e.dataTransfer.getData(DRAG_TYPE);
    if (name) add(name, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  };

  /** Why a wire is refused, or null when it is legal. */
  const refusal = useCallback(
    (c: Connection | Edge): string | null => {
      const src = nodes.find((n) => n.id === c.source);
      const dst = nodes.find((n) => n.id === c.target);
      if (!src || !dst) return "unknown step";
      if (src.id === dst.id) return "a step cannot feed itself";
      const out = byName.get(src.data.component)?.outputs.find((p) => p.name === c.sourceHandle);
      const inp = byName.get(dst.data.component)?.inputs.find((p) => p.name === c.targetHandle);
      if (!out || !inp) return "unknown port";
      const mapped = mappedSteps(nodes, edges, byName);
      const existing = edges.filter((e) => e.target === dst.id && e.targetHandle === inp.name);
      if (!isList(inp.type) && existing.length) return `${dst.data.name}.${inp.name} is already connected`;
      if (existing.some((e) => e.source === src.id && e.sourceHandle === out.name)) return "that wire exists";
      const wires = existing.length + 1;
      const kinds = [...existing.map((e) => {
        const n = nodes.find((x) => x.id === e.source);
        const o = n && byName.get(n.data.component)?.outputs.find((p) => p.name === e.sourceHandle);
        return o ? wireKind(o.type, inp.type, mapped.has(e.source), wires) : null;
      }), wireKind(out.type, inp.type, mapped.has(src.id), wires)];
      if (kinds[kinds.length - 1] === null || kinds.some((k) => k === null))
        return `${src.data.name}.${out.name} gives ${out.type}${mapped.has(src.id) ? " from each element of a mapped step" : ""}, but ${dst.data.name}.${inp.name} takes ${inp.type}`;
      // a wire that would close a cycle
      const reach = new Set([dst.id]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const e of edges) if (reach.has(e.source) && !reach.has(e.target)) reach.add(e.target), (grew = true);
      }
      if (reach.has(src.id)) return "that wire would make a cycle";
      return null;
    },
    [nodes, edges, byName],
  );

  const isValidConnection: IsValidConnection<Edge> = useCallback((c) => refusal(c) === null, [refusal]);

  const onConnect = useCallback(
    (c: Connection) => {
      const why = refusal(c);
      if (why) {
        setMessage({ kind: "error", text: `Refused: ${why}.` });
        return;
      }
      setEdges((es) => addEdge({ ...c, id: `${c.source}.${c.sourceHandle}->${c.target}.${c.targetHandle}` }, es));
      setMessage(null);
    },
    [refusal, setEdges],
  );

  // A wire dropped on a port that refuses it: say why (React Flow itself just drops it).
  const onConnectEnd: OnConnectEnd = useCallback(
    (_e, s) => {
      if (!("fromHandle" in s) || !s.fromHandle || !s.toHandle || s.isValid !== false) return;
      const [a, b] = s.fromHandle.type === "source" ? [s.fromHandle, s.toHandle] : [s.toHandle, s.fromHandle];
      const why = refusal({ source: a.nodeId, sourceHandle: a.id ?? null, target: b.nodeId, targetHandle: b.id ?? null });
      if (why) setMessage({ kind: "error", text: `Refused: ${why}.` });
    },
    [refusal],
  );

  const patch = (id: string, p: Partial<StepData>) => setNodes((ns) => ns.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...p } } : n)));

  const doValidate = async (): Promise<boolean> => {
    const local = problems(meta, nodes, edges, byName);
    if (local.length) {
      setMessage({ kind: "error", text: "Not valid yet:", lines: local });
      return false;
    }
    try {
      const v = await validate(yaml());
      setMessage(v.ok ? { kind: "ok", text: "Valid: the server accepts this workflow." } : { kind: "error", text: "The server refused it:", lines: v.errors });
      return v.ok;
    } catch (e) {
      if (e instanceof Missing) {
        setMessage({ kind: "info", text: "Checked in the browser (wiring, types, names); this server offers no validation route." });
        return true;
      }
      setMessage({ kind: "error", text: errorText(e) });
      return false;
    }
  };

  const doSubmit = async () => {
    if (!(await doValidate())) return;
    try {
      const r = await submit(yaml());
      setRun(r);
      setMessage({ kind: "info", text: `Submitted as workflow ${r.id}.` });
    } catch (e) {
      setMessage({ kind: "error", text: e instanceof Missing ? "This server offers no workflow submission route." : errorText(e) });
    }
  };

  // Live step states of the submitted workflow, painted on the canvas.
  useEffect(() => {
    if (!run) return;
    const paint = (r: WorkflowRun) => {
      const steps = new Map(r.steps.map((s) => [s.name, s]));
      setNodes((ns) =>
        ns.map((n) => {
          const s = steps.get(n.data.name);
          const job = s?.job_id ?? s?.jobs?.[0];
          return s && (s.state !== n.data.state || String(job ?? "") !== (n.data.job ?? "")) ? { ...n, data: { ...n.data, state: s.state, job: job !== undefined && job !== null ? String(job) : undefined } } : n;
        }),
      );
    };
    return poll(async (stopped) => {
      try {
        const r = await getRun(run.id);
        if (stopped()) return null;
        paint(r);
        if (FINAL.has(r.state)) {
          setMessage({ kind: r.state === "succeeded" ? "ok" : "error", text: `Workflow ${r.id} ${r.state}.` });
          return null;
        }
      } catch (e) {
        if (!stopped()) setMessage({ kind: "error", text: errorText(e) });
      }
      return 700;
    });
  }, [run, setNodes]);

  const save = () => {
    const text = yaml();
    setYamlText(text);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
    a.download = `${meta.name}.yaml`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  const load = (text: string) => {
    try {
      const g = fromYaml(text, byName);
      setMeta(g.meta);
      setNodes(g.nodes);
      setEdges(g.edges);
      setRun(null);
      setSelected(null);
      setMessage({ kind: "info", text: `Loaded ${g.nodes.length} steps.` });
      setTimeout(() => flow.fitView(), 50);
    } catch (e) {
      setMessage({ kind: "error", text: `Could not load: ${errorText(e)}` });
    }
  };

  const sel = nodes.find((n) => n.id === selected);
  return (
    <ComponentsContext.Provider value={byName}>
      <div className="editor">
        <div className="toolbar">
          <label>
            workflow
            <input aria-label="workflow name" value={meta.name} onChange={(e) => setMeta({ ...meta, name: e.target.value })} />
          </label>
          <label>
            project
            <input aria-label="workflow project" value={meta.project} onChange={(e) => setMeta({ ...meta, project: e.target.value })} />
          </label>
          <button onClick={doValidate}>Validate</button>
          <button onClick={save}>Save YAML</button>
          <label className="button">
            Open YAML
            <input type="file" accept=".yaml,.yml" hidden aria-label="open yaml" onChange={async (e) => e.target.files?.[0] && load(await e.target.files[0].text())} />
          </label>
          <button className="primary" onClick={doSubmit}>
            Submit
          </button>
          {run ? (
            <a href={`#/workflows/${run.id}`} data-testid="run-link">
              workflow {run.id}
            </a>
          ) : null}
        </div>
        {message ? (
          <div className={`message ${message.kind}`} role={message.kind === "error" ? "alert" : "status"} data-testid="editor-message">
            {message.text}
            {message.lines ? (
              <ul>
                {message.lines.map((l, i) => (
                  <li key={i}>{l}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        <div className="workspace">
          <Palette components={components} onAdd={(n) => add(n)} />
          <div className="canvas" data-testid="canvas" onDrop={onDrop} onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = "move";
          }}>
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onNodeClick={(_, n) => setSelected(n.id)}
              onPaneClick={() => setSelected(null)}
              deleteKeyCode={["Delete", "Backspace"]}
              defaultViewport={{ x: 0, y: 0, zoom: 1 }}
              proOptions={{ hideAttribution: true }}
            >
              <Background />
              <Controls />
            </ReactFlow>
          </div>
          {sel ? (
            <Inspector
              step={sel.data}
              comp={byName.get(sel.data.component)}
              onChange={(p) => patch(sel.id, p)}
              onDelete={() => {
                setNodes((ns) => ns.filter((n) => n.id !== sel.id));
                setEdges((es) => es.filter((e) => e.source !== sel.id && e.target !== sel.id));
                setSelected(null);
              }}
            />
          ) : (
            <aside className="inspector muted">Drag a component onto the canvas, wire outputs to inputs of the same type, and select a step to edit it.</aside>
          )}
        </div>
        <details className="yaml" open={yamlText !== null}>
          <summary>YAML</summary>
          <pre data-testid="yaml">{yamlText ?? yaml()}</pre>
        </details>
      </div>
    </ComponentsContext.Provider>
  );
}

export default function Editor() {
  const [components, setComponents] = useState<ComponentInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    listComponents()
      .then(setComponents)
      .catch((e) => setError(e instanceof Missing ? "This server offers no component registry (/api/v1/components), so there is nothing to build with." : errorText(e)));
  }, []);
  if (error)
    return (
      <div className="empty" data-testid="empty">
        {error}
      </div>
    );
  if (!components) return <div className="muted">Loading the component registry…</div>;
  return (
    <ReactFlowProvider>
      <Canvas components={components} />
    </ReactFlowProvider>
  );
}
