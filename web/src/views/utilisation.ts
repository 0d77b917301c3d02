// An attempt's utilisation samples (GET /jobs/{ref}/utilisation) as chart series.
import type { Series } from "../ui/Chart";

export interface Sample {
  at: number;
  cpu_pct: number;
  rss_mb: number;
  read_mb: number;
  write_mb: number;
  gpu_pct: number | null;
  gpu_mem_mb: number | null;
}

export interface Verdict {
  kind: string;
  recommendation: string;
  figures?: Record<string, unknown>;
}

export interface AttemptUse {
  attempt: number;
  state: string;
  started_at: number;
  ended_at: number | null;
  held: { cpus: number | null; memory_mb: number | null; gpus: number[] };
  samples: Sample[];
  verdict: Verdict | null;
}

export interface Charts {
  x: number[];
  busy: Series[];
  memory: Series[];
  io: Series[];
}

/** Busy percentages, memory and IO rates (read_mb/write_mb are cumulative: differenced here). */
export function charts(samples: Sample[]): Charts {
  const x = samples.map((s) => s.at);
  const hasGpu = samples.some((s) => s.gpu_pct !== null);
  const busy: Series[] = [{ label: "CPU %", values: samples.map((s) => s.cpu_pct) }];
  if (hasGpu) busy.push({ label: "GPU %", values: samples.map((s) => s.gpu_pct) });
  const memory: Series[] = [{ label: "RSS MB", values: samples.map((s) => s.rss_mb) }];
  if (samples.some((s) => s.gpu_mem_mb !== null)) memory.push({ label: "GPU memory MB", values: samples.map((s) => s.gpu_mem_mb) });
  const rate = (key: "read_mb" | "write_mb") =>
    samples.map((s, i) => {
      if (i === 0) return 0;
      const dt = s.at - samples[i - 1].at;
      return dt > 0 ? Math.max(0, (s[key] - samples[i - 1][key]) / dt) : null;
    });
  const io: Series[] = [
    { label: "read MB/s", values: rate("read_mb") },
    { label: "write MB/s", values: rate("write_mb") },
  ];
  return { x, busy, memory, io };
}
