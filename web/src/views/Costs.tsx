// Costs by project and by queue over time, from the cost ledger.
import { useState } from "react";
import { items } from "../api";
import { Chart } from "../ui/Chart";
import { epoch, usd } from "../ui/format";
import { Empty, Shown } from "../ui/Shown";
import { useResource } from "../ui/useResource";

interface Row {
  bucket?: string | number;
  at?: string | number;
  day?: string;
  period?: string | number;
  project?: string;
  queue?: string;
  cost_usd: number;
  [k: string]: unknown;
}

/** Rows of (time bucket, group, cost) as one series per group on a shared time axis. */
export function costSeries(rows: Row[], by: "project" | "queue") {
  const t = (r: Row) => epoch(r.bucket ?? r.at ?? r.day ?? r.period ?? null);
  const times = [...new Set(rows.map(t).filter((x): x is number => x !== null))].sort((a, b) => a - b);
  const groups = [...new Set(rows.map((r) => String(r[by] ?? "(none)")))].sort();
  const index = new Map(times.map((x, i) => [x, i]));
  const series = groups.map((g) => {
    const values: (number | null)[] = times.map(() => 0);
    for (const r of rows) if (String(r[by] ?? "(none)") === g) {
      const i = index.get(t(r) ?? NaN);
      if (i !== undefined) values[i] = (values[i] ?? 0) + r.cost_usd;
    }
    return { label: g, values };
  });
  const totals = groups.map((g, i) => [g, series[i].values.reduce<number>((a, b) => a + (b ?? 0), 0)] as const);
  return { times, series, totals };
}

export function Costs() {
  const [by, setBy] = useState<"project" | "queue">("project");
  const [bucket, setBucket] = useState<"hour" | "day">("day");
  const [res] = useResource<unknown>(`/costs?group_by=${by}&bucket=${bucket}`, 10000);
  return (
    <section>
      <h2>Costs</h2>
      <div className="filters">
        <label>
          by
          <select aria-label="group by" value={by} onChange={(e) => setBy(e.target.value as "project" | "queue")}>
            <option value="project">project</option>
            <option value="queue">queue</option>
          </select>
        </label>
        <label>
          per
          <select aria-label="bucket" value={bucket} onChange={(e) => setBucket(e.target.value as "hour" | "day")}>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </label>
      </div>
      <Shown res={res} what="costs">
        {(data) => {
          const rows = items<Row>(data, "rows").length ? items<Row>(data, "rows") : items<Row>(data, "items");
          if (rows.length === 0) return <Empty title="No costs recorded">The ledger has no charges yet: costs are recorded when attempts end.</Empty>;
          const { times, series, totals } = costSeries(rows, by);
          return (
            <>
              <Chart x={times} series={series} title={`Cost per ${bucket} by ${by} (USD)`} />
              <table data-testid="costs">
                <thead>
                  <tr>
                    <th>{by}</th>
                    <th>total</th>
                  </tr>
                </thead>
                <tbody>
                  {totals.map(([g, v]) => (
                    <tr key={g}>
                      <td>{g}</td>
                      <td className="num">{usd(v)}</td>
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
