// Submitted workflows, and one workflow's steps with their live states and jobs.
import { items } from "../api";
import { when } from "../ui/format";
import { Head } from "../ui/Head";
import { Shown } from "../ui/Shown";
import { State } from "../ui/State";
import { useResource } from "../ui/useResource";
import type { WorkflowRun } from "../workflowsApi";
import { FINAL } from "./jobs";

function Run({ id }: { id: string }) {
  const [res] = useResource<WorkflowRun>(`/workflows/${id}`, 1000);
  return (
    <Shown res={res} what={`workflow ${id}`}>
      {(r) => (
        <>
          <h2>
            Workflow {r.id} <span className="muted">{r.name}</span> <State state={r.state} />
            {!FINAL.has(r.state) ? <span className="live">live</span> : null}
          </h2>
          <table data-testid="steps">
            <Head cols={["step", "state", "jobs"]} />
            <tbody>
              {r.steps.map((s) => {
                const jobs = s.jobs ?? (s.job_id !== undefined && s.job_id !== null ? [s.job_id] : []);
                return (
                  <tr key={s.name} data-testid={`steprow-${s.name}`}>
                    <td>{s.name}</td>
                    <td>
                      <State state={s.state} />
                    </td>
                    <td>
                      {jobs.map((j) => (
                        <a key={String(j)} href={`#/jobs/${j}`} className="joblink">
                          {String(j)}
                        </a>
                      ))}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </Shown>
  );
}

export function Workflows({ id }: { id?: string }) {
  const [res] = useResource<unknown>(id ? null : "/workflows", 3000);
  if (id) return <Run id={id} />;
  return (
    <section>
      <h2>Workflows</h2>
      <p>
        <a href="#/editor">Open the editor</a> to build one.
      </p>
      <Shown res={res} what="workflows">
        {(data) => {
          const runs = items<WorkflowRun>(data);
          if (runs.length === 0) return <div className="muted">No workflow has been submitted.</div>;
          return (
            <table data-testid="workflows">
              <Head cols={["id", "name", "state", "submitted"]} />
              <tbody>
                {runs.map((r) => (
                  <tr key={String(r.id)}>
                    <td>
                      <a href={`#/workflows/${r.id}`}>{String(r.id)}</a>
                    </td>
                    <td>{r.name}</td>
                    <td>
                      <State state={r.state} />
                    </td>
                    <td>{when(r.submitted_at)}</td>
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
