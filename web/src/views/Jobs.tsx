// The jobs table: state, reason, device, runtime and cost, filtered by state, queue or name (the
// project is the signed-in token's).
import { useState } from "react";
import { items } from "../api";
import { duration, usd, when } from "../ui/format";
import { go, useHashQuery } from "../ui/router";
import { Head } from "../ui/Head";
import { Shown } from "../ui/Shown";
import { State } from "../ui/State";
import { useResource } from "../ui/useResource";
import { device, jobRuntime, useJobCosts, type Job } from "./jobs";

const STATES = ["", "pending", "runnable", "starting", "running", "succeeded", "failed", "cancelled", "timed_out", "preempted"];
const PAGE = 50;

interface Page {
  items: Job[];
  next: number | null;
}

export function Jobs() {
  const q = useHashQuery();
  const [cursor, setCursor] = useState<string | null>(null);
  const filters = { state: q.get("state") ?? "", queue: q.get("queue") ?? "", name: q.get("name") ?? "" };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
  const arrayId = q.get("array_id");
  if (arrayId) params.set("array_id", arrayId);
  params.set("limit", String(PAGE));
  if (cursor) params.set("before", cursor);
  const [page] = useResource<Page>(`/jobs?${params}`, 2000);
  const costs = useJobCosts();

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(q);
    if (value) next.set(key, value);
    else next.delete(key);
    setCursor(null);
    go(`jobs?${next}`);
  };

  return (
    <section>
      <h2>Jobs{arrayId ? ` of array ${arrayId}` : ""}</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          state
          <select aria-label="state" value={filters.state} onChange={(e) => setFilter("state", e.target.value)}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        {(["queue", "name"] as const).map((k) => (
          <label key={k}>
            {k}
            <input aria-label={k} defaultValue={filters[k]} onBlur={(e) => setFilter(k, e.target.value.trim())} onKeyDown={(e) => e.key === "Enter" && setFilter(k, (e.target as HTMLInputElement).value.trim())} />
          </label>
        ))}
      </form>
      <Shown res={page} what="jobs">
        {(data) => {
          const jobs = items<Job>(data);
          const next = data.next;
          if (jobs.length === 0) return <div className="muted">No jobs match.</div>;
          return (
            <>
              <table data-testid="jobs">
                <Head cols={["id", "name", "state", "reason", "queue", "device", "submitted", "runtime", "cost"]} />
                <tbody>
                  {jobs.map((j) => (
                    <tr key={j.id} className="clickable" onClick={() => go(`jobs/${j.id}`)}>
                      <td>
                        <a href={`#/jobs/${j.id}`}>{j.id}</a>
                      </td>
                      <td>{j.name ?? ""}</td>
                      <td>
                        <State state={j.state} />
                      </td>
                      <td title={j.reason_detail ?? ""}>{j.reason ?? ""}</td>
                      <td>{j.queue ?? ""}</td>
                      <td>{device(j)}</td>
                      <td>{when(j.submitted_at)}</td>
                      <td className="num">{duration(jobRuntime(j))}</td>
                      <td className="num">{costs ? usd(costs.get(j.id) ?? 0) : "–"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div className="pager">
                {cursor ? <button onClick={() => setCursor(null)}>First page</button> : null}
                {next !== null ? <button onClick={() => setCursor(String(next))}>Next page</button> : null}
              </div>
            </>
          );
        }}
      </Shown>
    </section>
  );
}
