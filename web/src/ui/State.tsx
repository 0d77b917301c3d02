// A job or step state as a coloured badge (the same states as `tessera ls`).
export function State({ state }: { state: string | null | undefined }) {
  const s = state ?? "unknown";
  return (
    <span className={`state state-${s}`} data-state={s}>
      {s}
    </span>
  );
}
