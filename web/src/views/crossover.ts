// Crossover sizes from benchmark profiles: the same rule as tessera.bench.crossover.find_crossover
// (the size from which the challenger stays faster, interpolated in log(size)).

export interface Profile {
  kernel: string;
  size: number;
  device: string;
  warm_s: number;
  cold_s?: number | null;
  gflops?: number | null;
  gbps?: number | null;
  measured_at?: number;
  fingerprint?: string;
}

export function findCrossover(sizes: number[], slow: number[], fast: number[]): number | null {
  const points = sizes.map((s, i) => [s, slow[i], fast[i]] as const).filter((p) => p.every((v) => v > 0)).sort((a, b) => a[0] - b[0]);
  if (points.length === 0) return null;
  const r = points.map(([, s, f]) => Math.log(f / s));
  if (r[r.length - 1] >= 0) return null;
  let last = -1;
  r.forEach((v, i) => {
    if (v >= 0) last = i;
  });
  if (last < 0) return points[0][0];
  const x0 = Math.log(points[last][0]);
  const x1 = Math.log(points[last + 1][0]);
  const t = r[last] / (r[last] - r[last + 1]);
  return Math.exp(x0 + t * (x1 - x0));
}

export interface KernelSweep {
  kernel: string;
  sizes: number[];
  devices: string[];
  /** seconds[device][i] for sizes[i], null where not measured */
  seconds: Record<string, (number | null)[]>;
  crossover: { fast: string; size: number | null } | null;
}

/** Group profiles by kernel into aligned series (latest measurement per kernel, device and size). */
export function sweeps(profiles: Profile[], slow = "cpu"): KernelSweep[] {
  const by = new Map<string, Map<string, Map<number, Profile>>>();
  for (const p of profiles) {
    const k = by.get(p.kernel) ?? new Map();
    by.set(p.kernel, k);
    const d = k.get(p.device) ?? new Map();
    k.set(p.device, d);
    const prev = d.get(p.size);
    if (!prev || (p.measured_at ?? 0) >= (prev.measured_at ?? 0)) d.set(p.size, p);
  }
  const out: KernelSweep[] = [];
  for (const [kernel, byDevice] of [...by.entries()].sort()) {
    const sizes = [...new Set([...byDevice.values()].flatMap((d) => [...d.keys()]))].sort((a, b) => a - b);
    const devices = [...byDevice.keys()].sort();
    const seconds: Record<string, (number | null)[]> = {};
    for (const dev of devices) seconds[dev] = sizes.map((s) => byDevice.get(dev)?.get(s)?.warm_s ?? null);
    let crossover: KernelSweep["crossover"] = null;
    const fast = devices.find((d) => d !== slow);
    if (fast && byDevice.has(slow)) {
      const common = sizes.filter((s) => byDevice.get(slow)!.has(s) && byDevice.get(fast)!.has(s));
      if (common.length >= 2)
        crossover = {
          fast,
          size: findCrossover(
            common,
            common.map((s) => byDevice.get(slow)!.get(s)!.warm_s),
            common.map((s) => byDevice.get(fast)!.get(s)!.warm_s),
          ),
        };
    }
    out.push({ kernel, sizes, devices, seconds, crossover });
  }
  return out;
}
