// The palette: every registered component, grouped by its name's first word, draggable onto the canvas.
import { useState } from "react";
import type { ComponentInfo } from "./model";

export const DRAG_TYPE = "application/x-tessera-component";

export function Palette({ components, onAdd }: { components: ComponentInfo[]; onAdd: (name: string) => void }) {
  const [filter, setFilter] = useState("");
  const shown = components.filter((c) => c.name.includes(filter.toLowerCase()) || (c.summary ?? "").toLowerCase().includes(filter.toLowerCase()));
  const groups = new Map<string, ComponentInfo[]>();
  for (const c of shown) {
    const g = c.name.split(".")[0];
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  return (
    <aside className="palette" data-testid="palette">
      <input placeholder="Filter components" aria-label="filter components" value={filter} onChange={(e) => setFilter(e.target.value)} />
      {[...groups.entries()].map(([g, list]) => (
        <div key={g}>
          <div className="group">{g}</div>
          {list.map((c) => (
            <div
              key={c.name}
              className="palette-item"
              draggable
              data-testid={`palette-${c.name}`}
              title={c.summary}
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, c.name);
                e.dataTransfer.effectAllowed = "move";
              }}
              onDoubleClick={() => onAdd(c.name)}
            >
              <div className="pname">{c.name}</div>
              <div className="psig">
                ({c.inputs.map((p) => `${p.name}: ${p.type}`).join(", ")}) → {c.outputs.map((p) => `${p.name}: ${p.type}`).join(", ") || "nothing"}
              </div>
            </div>
          ))}
        </div>
      ))}
      {components.length === 0 ? <div className="muted">The registry has no components.</div> : null}
    </aside>
  );
}
