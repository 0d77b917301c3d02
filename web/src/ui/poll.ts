// Repeating a read until told to stop: the loop behind live views, logs and step states.

/**
 * Run `step` now and again after each delay it returns (milliseconds); it ends when `step`
 * returns null or the returned stop function is called. `stopped()` tells `step` whether its
 * answer still matters (after an await).
 */
export function poll(step: (stopped: () => boolean) => Promise<number | null>): () => void {
  let stop = false;
  let timer: number | undefined;
  const run = async () => {
    const next = await step(() => stop);
    if (!stop && next !== null) timer = window.setTimeout(run, next);
  };
  void run();
  return () => {
    stop = true;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
