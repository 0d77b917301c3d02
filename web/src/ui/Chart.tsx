// A uPlot chart: time series (utilisation, cost over time) or x/y lines (crossover plots).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"];

export function Chart({
  x,
  series,
  title,
  time = true,
  logX = false,
  logY = false,
  xLabel,
  yLabel,
  height = 220,
}: {
  x: number[];
  series: Series[];
  title?: string;
  time?: boolean;
  logX?: boolean;
  logY?: boolean;
  xLabel?: string;
  yLabel?: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(320, el.clientWidth || 600),
      height,
      scales: {
        x: { time, distr: logX ? 3 : 1 },
        y: { distr: logY ? 3 : 1 },
      },
      axes: [{ label: xLabel }, { label: yLabel }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color ?? COLORS[i % COLORS.length], width: 2, points: { show: x.length < 40 } }))],
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const onResize = () => plot.setSize({ width: Math.max(320, el.clientWidth), height });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      plot.destroy();
    };
  }, [x, series, title, time, logX, logY, xLabel, yLabel, height]);
  return <div className="chart" ref={box} data-testid="chart" />;
}
