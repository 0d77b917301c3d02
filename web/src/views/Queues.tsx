// Queues and capacity: each queue's jobs by state, and what this machine (or cluster) has free.
import { items } from "../api";
import { Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";

interface Queue {
  name: string;
  priority?: number;
  counts?: Record<string, number>;
  [k: string]: unknown;
}

interface Capacity {
  cpus?: number;
  memory_mb?: number;
  gpus?: number | unknown[];
  free?: { cpus?: number; memory_mb?: number; gpus?: number };
  used?: { cpus?: number; memory_mb?: number; gpus?: number };
  [k: string]: unknown;
}

const STATES = ["pending", "runnable", "starting", "running", "succeeded", "failed", "cancelled", "timed_out", "preempted"];

function count(n: number | unknown[] | undefined): number | undefined {
  return Array.isArray(n) ? n.length : n;
}

function Meter({ label, used, total, unit = "" }: { label: string; used?: number; total?: number; unit?: string }) {
  if (total === undefined) return null;
  const pct = used !== undefined && total > 0 ? Math.min(100, (100 * used) / total) : null;
  return (
    <div className="meter">
      <div className="meter-label">
        {label}: {used !== undefined ? `${used} / ` : ""}
        {total}
        {unit}
      </div>
      {pct !== null ? (
        <div className="meter-bar">
          <div style={{ width: `${pct}%` }} />
        </div>
      ) : null}
    </div>
  );
}

export function Queues() {
  const [queues] = useResource<unknown>("/queues", 3000);
  const [capacity] = useResource<Capacity>("/capacity", 3000);
  return (
    <section>
      <h2>Capacity</h2>
      <Shown res={capacity} what="capacity">
        {(c) => {
          const total = { cpus: c.cpus, memory_mb: c.memory_mb, gpus: count(c.gpus) };
          const used = c.used ?? (c.free ? { cpus: sub(total.cpus, c.free.cpus), memory_mb: sub(total.memory_mb, c.free.memory_mb), gpus: sub(total.gpus, c.free.gpus) } : {});
          return (
            <div className="cards" data-testid="capacity">
              <Meter label="CPUs" used={used.cpus} total={total.cpus} />
              <Meter label="Memory" used={used.memory_mb} total={total.memory_mb} unit=" MB" />
              <Meter label="GPUs" used={used.gpus} total={total.gpus} />
            </div>
          );
        }}
      </Shown>
      <h2>Queues</h2>
      <Shown res={queues} what="queues">
        {(data) => {
          const qs = items<Queue>(data, "queues");
          if (qs.length === 0) return <div className="muted">No queues yet: the first submitted job creates its queue.</div>;
          return (
            <table data-testid="queues">
              <thead>
                <tr>
                  <th>queue</th>
                  <th>priority</th>
                  {STATES.map((s) => (
                    <th key={s}>{s}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {qs.map((q) => (
                  <tr key={q.name}>
                    <td>
                      <a href={`#/jobs?queue=${encodeURIComponent(q.name)}`}>{q.name}</a>
                    </td>
                    <td>{q.priority ?? "–"}</td>
                    {STATES.map((s) => (
                      <td key={s} className="num">
                        {q.counts?.[s] ?? 0}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Shown>
    </section>
  );
}

function sub(a?: number, b?: number): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}
