// Live logs of a job: stdout or stderr, re-read while the job runs.
import { useEffect, useRef, useState } from "react";
import { getText, Missing } from "../api";

function asText(body: string): string {
  // The server may answer plain text or JSON ({text} / {data} / {lines}).
  const t = body.trimStart();
  if (!t.startsWith("{")) return body;
  try {
    const d = JSON.parse(t) as { text?: string; data?: string; lines?: string[]; content?: string };
    return d.text ?? d.data ?? d.content ?? (d.lines ? d.lines.join("\n") : body);
  } catch {
    return body;
  }
}

export function Logs({ jobId, live }: { jobId: string; live: boolean }) {
  const [stream, setStream] = useState<"stdout" | "stderr">("stdout");
  const [text, setText] = useState<string | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let stop = false;
    let timer: number | undefined;
    setText(null);
    const load = async () => {
      try {
        const res = await getText(`/jobs/${jobId}/logs?stream=${stream}`);
        if (stop) return;
        setText(asText(res.text));
        setError(null);
      } catch (e) {
        if (stop) return;
        if (e instanceof Missing) {
          setMissing(e.path);
          return;
        }
        setError(e instanceof Error ? e.message : String(e));
      }
      if (!stop && live) timer = window.setTimeout(load, 1000);
    };
    load();
    return () => {
      stop = true;
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [jobId, stream, live]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  return (
    <div className="logs">
      <div className="tabs" role="tablist">
        {(["stdout", "stderr"] as const).map((s) => (
          <button key={s} role="tab" aria-selected={stream === s} className={stream === s ? "active" : ""} onClick={() => setStream(s)}>
            {s}
          </button>
        ))}
        {live ? <span className="live">live</span> : null}
      </div>
      {missing ? (
        <div className="empty">
          This server does not offer <code>/api/v1{missing}</code>: no logs to show.
        </div>
      ) : error ? (
        <div className="error">Could not read the logs: {error}</div>
      ) : (
        <pre ref={pre} data-testid={`log-${stream}`}>
          {text === null ? "…" : text === "" ? `(${stream} is empty)` : text}
        </pre>
      )}
    </div>
  );
}
