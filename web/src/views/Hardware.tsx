// Hardware and benchmark profiles: what this machine has, and per kernel the time on each device
// by problem size, with the CPU/GPU crossover.
import { items } from "../api";
import { Chart } from "../ui/Chart";
import { when } from "../ui/format";
import { Empty, Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";
import { sweeps, type Profile } from "./crossover";

type Inventory = Record<string, unknown>;

function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return <>–</>;
  if (Array.isArray(v)) {
    if (v.length === 0) return <>none</>;
    return (
      <ul className="plain">
        {v.map((x, i) => (
          <li key={i}>
            <Value v={x} />
          </li>
        ))}
      </ul>
    );
  }
  if (typeof v === "object")
    return (
      <span>
        {Object.entries(v as Record<string, unknown>)
          .map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : String(x)}`)
          .join(", ")}
      </span>
    );
  return <>{String(v)}</>;
}

export function Hardware() {
  const [hw] = useResource<Inventory>("/hardware");
  const [profiles] = useResource<unknown>("/profiles");
  return (
    <section>
      <h2>Hardware</h2>
      <Shown res={hw} what="hardware inventory">
        {(inv) => (
          <dl className="facts" data-testid="hardware">
            {Object.entries(inv).map(([k, v]) => (
              <div key={k} className="fact">
                <dt>{k}</dt>
                <dd>
                  <Value v={v} />
                </dd>
              </div>
            ))}
          </dl>
        )}
      </Shown>
      <h2>Benchmark profiles</h2>
      <Shown res={profiles} what="benchmark profiles">
        {(data) => {
          const rows = items<Profile>(data, "profiles");
          if (rows.length === 0)
            return (
              <Empty title="No profiles measured">
                Run <code>tessera bench --suite sweep</code> to measure kernels on this machine's devices.
              </Empty>
            );
          return (
            <div className="grid2">
              {sweeps(rows).map((s) => (
                <div key={s.kernel} className="card" data-testid={`profile-${s.kernel}`}>
                  <h3>{s.kernel}</h3>
                  <div className="muted">
                    {s.crossover
                      ? s.crossover.size === null
                        ? `${s.crossover.fast} is not faster than cpu at the largest size measured: no crossover`
                        : `crossover: ${s.crossover.fast} is faster from size ≈ ${Math.round(s.crossover.size)}`
                      : s.devices.length < 2
                        ? `measured on ${s.devices.join(", ")} only: no crossover to show`
                        : "too few common sizes for a crossover"}
                  </div>
                  <Chart
                    x={s.sizes}
                    series={s.devices.map((d) => ({ label: d, values: s.seconds[d] }))}
                    time={false}
                    logX
                    logY
                    xLabel="size"
                    yLabel="seconds (warm)"
                  />
                </div>
              ))}
              <div className="muted">Latest measurement {when(Math.max(...rows.map((r) => r.measured_at ?? 0)))}</div>
            </div>
          );
        }}
      </Shown>
    </section>
  );
}
