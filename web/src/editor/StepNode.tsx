// A step on the canvas: its name, component, typed input ports (left) and output ports (right),
// and, once submitted, its live state.
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { useContext } from "react";
import { ComponentsContext } from "./context";
import type { StepNode as StepNodeT } from "./model";

export function StepNode({ data, selected }: NodeProps<StepNodeT>) {
  const comp = useContext(ComponentsContext).get(data.component);
  const inputs = comp?.inputs ?? [];
  const outputs = comp?.outputs ?? [];
  const rows = Math.max(inputs.length, outputs.length, 1);
  return (
    <div className={`step-node ${selected ? "selected" : ""} ${data.state ? `state-${data.state}` : ""}`} data-testid={`step-${data.name}`} data-state={data.state ?? ""}>
      <div className="step-head">
        <strong>{data.name}</strong>
        {data.map ? <span className="tag">map</span> : null}
        {data.state ? <span className={`state state-${data.state}`}>{data.state}</span> : null}
      </div>
      <div className="step-comp">{data.component}</div>
      <div className="ports" style={{ minHeight: rows * 22 }}>
        <div className="ins">
          {inputs.map((p) => (
            <div key={p.name} className="port in" title={`${p.name}: ${p.type}${p.optional ? " (optional)" : ""}`}>
              <Handle type="target" position={Position.Left} id={p.name} className={`handle t-${p.type.replace(/[[\]]/g, "_")}`} data-testid={`in-${data.name}-${p.name}`} />
              <span>
                {p.name} <em>{p.type}</em>
              </span>
            </div>
          ))}
        </div>
        <div className="outs">
          {outputs.map((p) => (
            <div key={p.name} className="port out" title={`${p.name}: ${p.type}`}>
              <span>
                <em>{p.type}</em> {p.name}
              </span>
              <Handle type="source" position={Position.Right} id={p.name} className={`handle t-${p.type.replace(/[[\]]/g, "_")}`} data-testid={`out-${data.name}-${p.name}`} />
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
