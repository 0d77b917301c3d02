// Queues and capacity: each queue's jobs by state, and each executor's free and total capacity.
import { items } from "../api";
import { Empty, Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";

interface Cap {
  cpus: number;
  memory_mb: number;
  gpus: number;
  gpu_ids?: number[];
}

interface Executor {
  name: string;
  features?: string[];
  total: Cap;
  free: Cap;
  running: number;
}

interface Queue {
  name: string;
  priority: number;
  counts: Record<string, number>;
}

interface QueuesAnswer {
  items: Queue[];
  capacity: Executor[] | null;
}

const STATES = ["pending", "runnable", "starting", "running", "preempted", "succeeded", "failed", "cancelled", "timed_out"];

function Meter({ label, used, total, unit = "" }: { label: string; used: number; total: number; unit?: string }) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return (
    <div className="meter">
      <div className="meter-label">
        {label}: {Math.round(used * 10) / 10} of {total}
        {unit} in use
      </div>
      <div className="meter-bar" role="meter" aria-label={label} aria-valuenow={used} aria-valuemin={0} aria-valuemax={total}>
        <div style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

export function Queues() {
  const [res] = useResource<QueuesAnswer>("/queues", 2000);
  return (
    <section>
      <Shown res={res} what="queues">
        {(data) => (
          <>
            <h2>Capacity</h2>
            {data.capacity && data.capacity.length ? (
              data.capacity.map((ex) => (
                <div key={ex.name} data-testid={`capacity-${ex.name}`}>
                  <h3>
                    {ex.name} executor <span className="muted">· {ex.running} attempts running{ex.features?.length ? ` · ${ex.features.join(", ")}` : ""}</span>
                  </h3>
                  <div className="cards">
                    <Meter label="CPUs" used={ex.total.cpus - ex.free.cpus} total={ex.total.cpus} />
                    <Meter label="Memory" used={ex.total.memory_mb - ex.free.memory_mb} total={ex.total.memory_mb} unit=" MB" />
                    <Meter label="GPUs" used={ex.total.gpus - ex.free.gpus} total={ex.total.gpus} />
                  </div>
                </div>
              ))
            ) : (
              <Empty title="No controller running">Capacity is reported by a running controller; it starts with the first submitted job.</Empty>
            )}
            <h2>Queues</h2>
            {items<Queue>(data).length === 0 ? (
              <div className="muted">No queues yet: the first submitted job creates its queue.</div>
            ) : (
              <table data-testid="queues">
                <thead>
                  <tr>
                    <th>queue</th>
                    <th>priority</th>
                    {STATES.map((s) => (
                      <th key={s} className="num">
                        {s}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {items<Queue>(data).map((q) => (
                    <tr key={q.name}>
                      <td>
                        <a href={`#/jobs?queue=${encodeURIComponent(q.name)}`}>{q.name}</a>
                      </td>
                      <td className="num">{q.priority}</td>
                      {STATES.map((s) => (
                        <td key={s} className="num" data-testid={`count-${q.name}-${s}`}>
                          {q.counts[s] ? <a href={`#/jobs?queue=${encodeURIComponent(q.name)}&state=${s}`}>{q.counts[s]}</a> : 0}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Shown>
    </section>
  );
}
