// Reading an API route into a view, optionally refreshed on an interval, with its three
// honest outcomes: the data, a route the server does not offer, or an error.
import { useCallback, useEffect, useState } from "react";
import { get, Missing } from "../api";
import { poll } from "./poll";

export type Resource<T> =
  | { status: "loading" }
  | { status: "ok"; data: T }
  | { status: "missing"; path: string; said?: string }
  | { status: "error"; message: string };

export function useResource<T>(path: string | null, refreshMs = 0): [Resource<T>, () => void] {
  const [state, setState] = useState<Resource<T>>({ status: "loading" });
  const [tick, setTick] = useState(0);
  // another path is another resource: never show the previous one's data under it
  const [shownPath, setShownPath] = useState(path);
  if (shownPath !== path) {
    setShownPath(path);
    setState({ status: "loading" });
  }
  useEffect(() => {
    if (path === null) return;
    return poll(async (stopped) => {
      try {
        const data = await get<T>(path);
        if (!stopped()) setState({ status: "ok", data });
      } catch (e) {
        if (stopped()) return null;
        if (e instanceof Missing) {
          setState({ status: "missing", path: e.path, said: e.said });
          return null; // a missing route stays missing: stop polling it
        }
        setState({ status: "error", message: e instanceof Error ? e.message : String(e) });
      }
      return refreshMs > 0 ? refreshMs : null;
    });
  }, [path, refreshMs, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [state, reload];
}
