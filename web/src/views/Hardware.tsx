// Hardware and benchmark profiles: this machine's capacity, GPUs and inventory, and per kernel the
// time on each device by problem size with the CPU/GPU crossover.
import { Chart } from "../ui/Chart";
import { when } from "../ui/format";
import { Empty, Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";
import { sweeps, type Profile } from "./crossover";

interface HardwareAnswer {
  capacity: { cpus: number; memory_mb: number; gpus: number };
  gpus: Record<string, unknown>[];
  profiles: Profile[];
  inventory?: Record<string, unknown>;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function Hardware() {
  const [res] = useResource<HardwareAnswer>("/hardware?profiles=2000");
  return (
    <section>
      <Shown res={res} what="hardware">
        {(hw) => (
          <>
            <h2>Hardware</h2>
            <dl className="facts" data-testid="hardware">
              <dt>CPUs</dt>
              <dd>{hw.capacity.cpus}</dd>
              <dt>memory</dt>
              <dd>{hw.capacity.memory_mb} MB</dd>
              <dt>GPUs</dt>
              <dd>{hw.gpus.length ? hw.gpus.map((g, i) => <div key={i}>{Object.entries(g).map(([k, v]) => `${k}: ${show(v)}`).join(", ")}</div>) : "none (NVML sees no GPU)"}</dd>
              {hw.inventory
                ? Object.entries(hw.inventory).map(([k, v]) => (
                    <div key={k} className="fact">
                      <dt>{k}</dt>
                      <dd>{show(v)}</dd>
                    </div>
                  ))
                : null}
            </dl>
            <h2>Benchmark profiles</h2>
            {hw.profiles.length === 0 ? (
              <Empty title="No profiles measured">
                Run <code>tessera bench --suite sweep</code> to measure the kernels on this machine's devices.
              </Empty>
            ) : (
              <>
                <div className="muted">
                  {hw.profiles.length} measurements, the latest {when(Math.max(...hw.profiles.map((r) => r.measured_at ?? 0)))}. Crossovers use the rule of <code>tessera bench</code>: the size from which the other device stays faster than the CPU.
                </div>
                <div className="grid2">
                  {sweeps(hw.profiles).map((s) => (
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
                      {s.sizes.length > 1 ? (
                        <Chart x={s.sizes} series={s.devices.map((d) => ({ label: d, values: s.seconds[d] }))} time={false} logX logY xLabel="size" yLabel="seconds (warm)" height={200} />
                      ) : (
                        <div className="muted">one size measured ({s.sizes[0]}): {s.devices.map((d) => `${d} ${s.seconds[d][0]?.toPrecision(3)} s`).join(", ")}</div>
                      )}
                    </div>
                  ))}
                </div>
              </>
            )}
          </>
        )}
      </Shown>
    </section>
  );
}
