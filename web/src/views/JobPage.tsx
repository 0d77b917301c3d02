// One job: its history, attempts, live logs, utilisation charts, bottleneck verdict and cost.
import { Chart } from "../ui/Chart";
import { duration, usd, when } from "../ui/format";
import { Empty, Shown } from "../ui/Shown";
import { Head } from "../ui/Head";
import { State } from "../ui/State";
import { useResource } from "../ui/useResource";
import { device, FINAL, jobRuntime, useJobCosts, type Job } from "./jobs";
import { Logs } from "./Logs";
import { charts, type AttemptUse, type Verdict } from "./utilisation";

interface Event {
  at: number;
  src: string | null;
  dst: string;
  reason?: string | null;
  detail?: string | null;
}

interface Attempt {
  id: number;
  number: number;
  state: string;
  executor: string;
  placement: Record<string, unknown>;
  started_at: number;
  ended_at: number | null;
  exit_code: number | null;
  reason: string | null;
}

interface JobDetail extends Job {
  attempt_list: Attempt[];
  events: Event[];
  dependencies: { kind: string; on: number; state: string }[];
  elements: Record<string, number> | null;
}

function VerdictBox({ v }: { v: Verdict }) {
  return (
    <div className={`verdict verdict-${v.kind}`} data-testid="verdict">
      <strong>{v.kind}</strong> · {v.recommendation}
    </div>
  );
}

function Utilisation({ id, live }: { id: string; live: boolean }) {
  const [res] = useResource<{ attempts: AttemptUse[] }>(`/jobs/${id}/utilisation`, live ? 2000 : 0);
  return (
    <Shown res={res} what="utilisation samples">
      {(u) => {
        if (u.attempts.length === 0) return <div className="muted">No attempt has started.</div>;
        return (
          <>
            {u.attempts.map((a) => {
              const c = charts(a.samples);
              return (
                <div key={a.attempt} className="attempt-use" data-testid={`use-${a.attempt}`}>
                  <h4>
                    Attempt {a.attempt} <State state={a.state} />
                  </h4>
                  {a.verdict ? <VerdictBox v={a.verdict} /> : <div className="muted">{a.ended_at ? "No verdict: too few samples." : "The verdict comes when the attempt ends."}</div>}
                  {c.x.length < 2 ? (
                    <Empty title="Too few samples to chart">The monitor took {c.x.length} sample(s): the attempt was shorter than the sampling interval.</Empty>
                  ) : (
                    <div className="grid3">
                      <Chart x={c.x} series={c.busy} title="Busy (%)" height={180} />
                      <Chart x={c.x} series={c.memory} title="Memory (MB)" height={180} />
                      <Chart x={c.x} series={c.io} title="IO (MB/s)" height={180} />
                    </div>
                  )}
                </div>
              );
            })}
          </>
        );
      }}
    </Shown>
  );
}

export function JobPage({ id }: { id: string }) {
  const [job] = useResource<JobDetail>(`/jobs/${id}`, 1500);
  const costs = useJobCosts();
  const live = job.status === "ok" && !FINAL.has(job.data.state);
  return (
    <section>
      <Shown res={job} what={`job ${id}`}>
        {(j) => {
          const last = j.attempt_list[j.attempt_list.length - 1];
          return (
            <>
              <h2>
                Job {j.id} {j.name ? <span className="muted">{j.name}</span> : null} <State state={j.state} />
                {j.array_id ? (
                  <a className="small" href={`#/jobs/${j.array_id}`}>
                    array {j.array_id}
                  </a>
                ) : null}
              </h2>
              <dl className="facts">
                <dt>reason</dt>
                <dd>{j.reason ? `${j.reason}${j.reason_detail ? `: ${j.reason_detail}` : ""}` : "–"}</dd>
                <dt>queue / project</dt>
                <dd>
                  {j.queue} / {j.project}
                </dd>
                <dt>asked for</dt>
                <dd>
                  {j.cpus} cpu, {j.memory_mb ? `${j.memory_mb} MB memory` : "no memory limit"}, {j.gpus ?? 0} gpu
                </dd>
                <dt>device</dt>
                <dd>{device(j, last?.placement)}</dd>
                <dt>submitted</dt>
                <dd>{when(j.submitted_at)}</dd>
                <dt>runtime</dt>
                <dd>{duration(jobRuntime(j))}</dd>
                <dt>attempts</dt>
                <dd>{j.attempts ?? 0}</dd>
                <dt>exit code</dt>
                <dd>{j.exit_code ?? "–"}</dd>
                <dt>cost</dt>
                <dd data-testid="cost">{costs ? usd(costs.get(j.id) ?? 0) : "no cost ledger in this build"}</dd>
                {j.elements ? (
                  <>
                    <dt>elements</dt>
                    <dd>
                      {Object.entries(j.elements)
                        .map(([s, n]) => `${n} ${s}`)
                        .join(", ")}{" "}
                      <a href={`#/jobs?array_id=${j.job_id}`}>list them</a>
                    </dd>
                  </>
                ) : null}
                {j.dependencies.length ? (
                  <>
                    <dt>after</dt>
                    <dd>
                      {j.dependencies.map((d) => (
                        <span key={`${d.kind}${d.on}`} className="joblink">
                          {d.kind}:<a href={`#/jobs/${d.on}`}>{d.on}</a> ({d.state})
                        </span>
                      ))}
                    </dd>
                  </>
                ) : null}
              </dl>

              <h3>Logs</h3>
              {j.is_array ? <div className="muted">An array has no output of its own: open one of its elements.</div> : <Logs jobId={id} />}

              <h3>Utilisation and bottleneck</h3>
              {j.is_array ? <div className="muted">Open an element to see its utilisation.</div> : <Utilisation id={id} live={live} />}

              <h3>Attempts</h3>
              {j.attempt_list.length === 0 ? (
                <div className="muted">No attempt has started.</div>
              ) : (
                <table data-testid="attempts">
                  <Head cols={["#", "state", "executor", "placement", "started", "runtime", "exit", "reason"]} />
                  <tbody>
                    {j.attempt_list.map((a) => (
                      <tr key={a.id}>
                        <td>{a.number}</td>
                        <td>
                          <State state={a.state} />
                        </td>
                        <td>{a.executor}</td>
                        <td>
                          <code>{JSON.stringify(a.placement)}</code>
                        </td>
                        <td>{when(a.started_at)}</td>
                        <td className="num">{duration(a.ended_at ? a.ended_at - a.started_at : null)}</td>
                        <td>{a.exit_code ?? "–"}</td>
                        <td>{a.reason ?? ""}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}

              <h3>History</h3>
              <table data-testid="history">
                <Head cols={["at", "from", "to", "reason", "detail"]} />
                <tbody>
                  {j.events.map((e, i) => (
                    <tr key={i}>
                      <td>{when(e.at)}</td>
                      <td>{e.src ?? "–"}</td>
                      <td>
                        <State state={e.dst} />
                      </td>
                      <td>{e.reason ?? ""}</td>
                      <td>{e.detail ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          );
        }}
      </Shown>
    </section>
  );
}
