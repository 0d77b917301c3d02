// Hash routes (#/jobs/12): they work under whatever prefix the server mounts the dashboard at,
// and need no server-side fallback.
import { useEffect, useState } from "react";

export function useRoute(): string[] {
  const read = () => (window.location.hash.replace(/^#\/?/, "").split("?")[0] || "queues").split("/");
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return parts;
}

export function go(path: string): void {
  window.location.hash = "#/" + path.replace(/^\//, "");
}

/** The query part of the hash route (#/jobs?state=failed). */
export function useHashQuery(): URLSearchParams {
  const read = () => new URLSearchParams(window.location.hash.split("?")[1] ?? "");
  const [q, setQ] = useState(read);
  useEffect(() => {
    const on = () => setQ(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return q;
}
