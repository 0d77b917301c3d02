// Hash routes (#/jobs/12?state=failed): they work under whatever prefix the server mounts the
// dashboard at, and need no server-side fallback.
import { useEffect, useState } from "react";

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

/** The path of the hash route as parts (`#/jobs/12` → ["jobs", "12"]); the queues view by default. */
export function useRoute(): string[] {
  return (useHash().replace(/^#\/?/, "").split("?")[0] || "queues").split("/");
}

/** The query part of the hash route (#/jobs?state=failed). */
export function useHashQuery(): URLSearchParams {
  return new URLSearchParams(useHash().split("?")[1] ?? "");
}

export function go(path: string): void {
  window.location.hash = "#/" + path.replace(/^\//, "");
}
