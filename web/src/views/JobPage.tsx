// One job: its history, attempts, live logs, utilisation charts, bottleneck verdict and cost.
import { items } from "../api";
import { Chart, type Series } from "../ui/Chart";
import { duration, usd, when } from "../ui/format";
import { Empty, Shown } from "../ui/Shown";
import { State } from "../ui/State";
import { useResource } from "../ui/useResource";
import { device, FINAL, jobRuntime, type Job } from "./jobs";
import { Logs } from "./Logs";

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
  executor?: string;
  placement?: Record<string, unknown>;
  started_at: number;
  ended_at?: number | null;
  exit_code?: number | null;
  reason?: string | null;
  usage?: Record<string, unknown>;
}

type Sample = Record<string, number | string | null>;

interface Verdict {
  verdict?: string;
  class?: string;
  bottleneck?: string;
  recommendation?: string | null;
  detail?: string | null;
  [k: string]: unknown;
}

interface Metrics {
  samples?: Sample[];
  series?: Sample[];
  verdict?: Verdict | null;
  [k: string]: unknown;
}

const TIME_KEYS = new Set(["at", "t", "time", "ts", "timestamp", "sampled_at"]);
const SKIP_KEYS = new Set(["attempt_id", "job_id", "id", "pid", "gpu_index", "index"]);

/** Utilisation samples as chart series: one series per numeric field, grouped into percent and the rest. */
export function toCharts(samples: Sample[]): { x: number[]; percent: Series[]; other: Series[] } {
  if (samples.length === 0) return { x: [], percent: [], other: [] };
  const tkey = Object.keys(samples[0]).find((k) => TIME_KEYS.has(k)) ?? "at";
  const x = samples.map((s) => Number(s[tkey]));
  const keys = new Set<string>();
  for (const s of samples) for (const [k, v] of Object.entries(s)) if (typeof v === "number" && !TIME_KEYS.has(k) && !SKIP_KEYS.has(k)) keys.add(k);
  const percent: Series[] = [];
  const other: Series[] = [];
  for (const k of keys) {
    const series = { label: k, values: samples.map((s) => (typeof s[k] === "number" ? (s[k] as number) : null)) };
    (k.includes("percent") || k.includes("util") || k.endsWith("_pct") ? percent : other).push(series);
  }
  return { x, percent, other };
}

function VerdictBox({ v }: { v: Verdict | null | undefined }) {
  if (!v) return <div className="muted">No verdict yet: one is given when an attempt finishes.</div>;
  const label = v.verdict ?? v.class ?? v.bottleneck ?? "unknown";
  return (
    <div className={`verdict verdict-${label}`} data-testid="verdict">
      <strong>{label}</strong>
      {v.recommendation ? <div>{v.recommendation}</div> : null}
      {v.detail ? <div className="muted">{v.detail}</div> : null}
    </div>
  );
}

export function JobPage({ id }: { id: string }) {
  const [job] = useResource<Job>(`/jobs/${id}`, 1500);
  const live = job.status === "ok" && !FINAL.has(job.data.state);
  const [events] = useResource<unknown>(`/jobs/${id}/events`, live ? 1500 : 0);
  const [attempts] = useResource<unknown>(`/jobs/${id}/attempts`, live ? 2000 : 0);
  const [metrics] = useResource<Metrics | Sample[]>(`/jobs/${id}/metrics`, live ? 2000 : 0);
  return (
    <section>
      <Shown res={job} what={`job ${id}`}>
        {(j) => (
          <>
            <h2>
              Job {j.id} {j.name ? <span className="muted">{j.name}</span> : null} <State state={j.state} />
            </h2>
            <dl className="facts">
              <dt>reason</dt>
              <dd>{j.reason ? `${j.reason}${j.reason_detail ? `: ${j.reason_detail}` : ""}` : "–"}</dd>
              <dt>queue / project</dt>
              <dd>
                {j.queue ?? "–"} / {j.project ?? "–"}
              </dd>
              <dt>resources</dt>
              <dd>
                {j.cpus ?? "?"} cpu, {j.memory_mb ?? "–"} MB, {j.gpus ?? 0} gpu
              </dd>
              <dt>device</dt>
              <dd>{device(j)}</dd>
              <dt>submitted</dt>
              <dd>{when(j.submitted_at)}</dd>
              <dt>runtime</dt>
              <dd>{duration(jobRuntime(j))}</dd>
              <dt>exit code</dt>
              <dd>{j.exit_code ?? "–"}</dd>
              <dt>cost</dt>
              <dd data-testid="cost">{j.cost_usd !== undefined ? usd(j.cost_usd) : "not recorded by this server"}</dd>
            </dl>
          </>
        )}
      </Shown>

      <h3>Logs</h3>
      <Logs jobId={id} live={live} />

      <h3>Utilisation</h3>
      <Shown res={metrics} what="utilisation samples">
        {(m) => {
          const samples = Array.isArray(m) ? m : (m.samples ?? m.series ?? []);
          const { x, percent, other } = toCharts(samples);
          return (
            <>
              {!Array.isArray(m) && "verdict" in m ? <VerdictBox v={m.verdict} /> : null}
              {x.length === 0 ? (
                <Empty title="No samples">The monitor recorded no utilisation samples for this job (it may have ended before the first sample).</Empty>
              ) : (
                <>
                  {percent.length ? <Chart x={x} series={percent} title="Utilisation (%)" /> : null}
                  {other.length ? <Chart x={x} series={other} title="Memory and IO" /> : null}
                </>
              )}
            </>
          );
        }}
      </Shown>

      <h3>Attempts</h3>
      <Shown res={attempts} what="attempts">
        {(data) => {
          const list = items<Attempt>(data, "attempts");
          if (list.length === 0) return <div className="muted">No attempt has started.</div>;
          return (
            <table data-testid="attempts">
              <thead>
                <tr>
                  <th>#</th>
                  <th>state</th>
                  <th>executor</th>
                  <th>placement</th>
                  <th>started</th>
                  <th>runtime</th>
                  <th>exit</th>
                  <th>reason</th>
                </tr>
              </thead>
              <tbody>
                {list.map((a) => (
                  <tr key={a.id}>
                    <td>{a.number}</td>
                    <td>
                      <State state={a.state} />
                    </td>
                    <td>{a.executor ?? ""}</td>
                    <td>
                      <code>{a.placement ? JSON.stringify(a.placement) : ""}</code>
                    </td>
                    <td>{when(a.started_at)}</td>
                    <td className="num">{duration(a.ended_at ? a.ended_at - a.started_at : null)}</td>
                    <td>{a.exit_code ?? "–"}</td>
                    <td>{a.reason ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Shown>

      <h3>History</h3>
      <Shown res={events} what="history">
        {(data) => {
          const list = items<Event>(data, "events");
          return (
            <table data-testid="history">
              <thead>
                <tr>
                  <th>at</th>
                  <th>from</th>
                  <th>to</th>
                  <th>reason</th>
                  <th>detail</th>
                </tr>
              </thead>
              <tbody>
                {list.map((e, i) => (
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
          );
        }}
      </Shown>
    </section>
  );
}
