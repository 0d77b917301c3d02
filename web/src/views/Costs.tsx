// Costs by project and by queue over time, from the cost ledger (GET /costs).
import { useState } from "react";
import { Chart } from "../ui/Chart";
import { duration, usd } from "../ui/format";
import { Head } from "../ui/Head";
import { Empty, Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";

type By = "project" | "queue";

interface CostsAnswer {
  group_by: By;
  groups: ({ usd: number; waste_usd: number; attempts: number; seconds: number } & Record<string, unknown>)[];
  series: ({ t: number; usd: number } & Record<string, unknown>)[];
  unpriced_attempts: number;
}

const BUCKETS: [string, number][] = [
  ["minute", 60],
  ["hour", 3600],
  ["day", 86400],
];

/** The ledger's (bucket start, group, dollars) rows as one series per group on a shared time axis. */
export function costSeries(rows: CostsAnswer["series"], by: By) {
  const times = [...new Set(rows.map((r) => r.t))].sort((a, b) => a - b);
  const groups = [...new Set(rows.map((r) => String(r[by])))].sort();
  const index = new Map(times.map((x, i) => [x, i]));
  const series = groups.map((g) => {
    const values: (number | null)[] = times.map(() => 0);
    for (const r of rows) if (String(r[by]) === g) values[index.get(r.t)!] = (values[index.get(r.t)!] ?? 0) + r.usd;
    return { label: g, values };
  });
  return { times, series };
}

export function Costs() {
  const [by, setBy] = useState<By>("project");
  const [bucket, setBucket] = useState(3600);
  const [res] = useResource<CostsAnswer>(`/costs?group_by=${by}&bucket_s=${bucket}`, 10000);
  return (
    <section>
      <h2>Costs</h2>
      <div className="filters">
        <label>
          by
          <select aria-label="group by" value={by} onChange={(e) => setBy(e.target.value as By)}>
            <option value="project">project</option>
            <option value="queue">queue</option>
          </select>
        </label>
        <label>
          per
          <select aria-label="bucket" value={bucket} onChange={(e) => setBucket(Number(e.target.value))}>
            {BUCKETS.map(([label, s]) => (
              <option key={s} value={s}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Shown res={res} what="costs">
        {(data) => {
          if (data.groups.length === 0)
            return <Empty title="No costs recorded">The ledger prices attempts as they run; none has run in this project yet.</Empty>;
          const { times, series } = costSeries(data.series, by);
          return (
            <>
              {times.length > 1 ? (
                <Chart x={times} series={series} title={`Cost per ${BUCKETS.find(([, s]) => s === bucket)?.[0]} by ${by} (USD)`} />
              ) : (
                <div className="muted">All charges fall in one {BUCKETS.find(([, s]) => s === bucket)?.[0]}: pick a shorter period to see them over time.</div>
              )}
              <table data-testid="costs">
                <Head cols={[by, "#cost", "#of which wasted", "#attempts", "#time"]} />
                <tbody>
                  {data.groups.map((g) => (
                    <tr key={String(g[by])}>
                      <td>{String(g[by])}</td>
                      <td className="num">{usd(g.usd)}</td>
                      <td className="num">{usd(g.waste_usd)}</td>
                      <td className="num">{g.attempts}</td>
                      <td className="num">{duration(g.seconds)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {data.unpriced_attempts ? <div className="muted">{data.unpriced_attempts} attempts have no price (no rate for their device).</div> : null}
            </>
          );
        }}
      </Shown>
    </section>
  );
}
