// How numbers, durations, money and times read in the dashboard.

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function usd(v: number | null | undefined): string {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  // small amounts keep two significant digits ($0.0000018), never an exponent
  if (v !== 0 && Math.abs(v) < 0.01) return `$${v.toFixed(Math.min(12, 1 - Math.floor(Math.log10(Math.abs(v)))))}`;
  return `$${v.toFixed(2)}`;
}

export function when(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined || iso === "") return "–";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** Seconds since the epoch, from an ISO string or a number of seconds. */
export function epoch(v: string | number | null | undefined): number | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number") return v;
  const t = Date.parse(v);
  return isNaN(t) ? null : t / 1000;
}

/** Runtime of a job or attempt from its start and end (or now, while it runs). */
export function runtime(started: string | number | null | undefined, ended: string | number | null | undefined): number | null {
  const s = epoch(started);
  if (s === null) return null;
  const e = epoch(ended) ?? Date.now() / 1000;
  return Math.max(0, e - s);
}
