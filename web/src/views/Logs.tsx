// Live logs of a job: its latest attempt's stdout or stderr, tailed by byte offset while it runs
// (GET /jobs/{ref}/logs answers {data, offset, size, done, attempt}).
import { useEffect, useRef, useState } from "react";
import { get, Missing } from "../api";

interface Chunk {
  attempt: number | null;
  data: string;
  offset: number;
  size: number;
  done: boolean;
}

export function Logs({ jobId }: { jobId: string }) {
  const [stream, setStream] = useState<"stdout" | "stderr">("stdout");
  const [text, setText] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let stop = false;
    let timer: number | undefined;
    let offset = 0;
    let attempt: number | null = null;
    let acc = "";
    setText(null);
    setProblem(null);
    const load = async () => {
      try {
        const c = await get<Chunk>(`/jobs/${jobId}/logs?stream=${stream}&offset=${offset}`);
        if (stop) return;
        if (c.attempt !== attempt) {
          // a new attempt started: its output replaces the previous one's
          attempt = c.attempt;
          acc = "";
          if (offset !== 0) {
            offset = 0;
            timer = window.setTimeout(load, 0);
            return;
          }
        }
        acc += c.data;
        offset = c.offset;
        setText(acc);
        setLive(!c.done);
        if (c.done) return;
      } catch (e) {
        if (stop) return;
        setProblem(e instanceof Missing ? `This server offers no logs route (${e.message}).` : `Could not read the logs: ${e instanceof Error ? e.message : String(e)}`);
        if (e instanceof Missing) return;
      }
      if (!stop) timer = window.setTimeout(load, 1000);
    };
    load();
    return () => {
      stop = true;
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [jobId, stream]);
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
      {problem ? <div className="error">{problem}</div> : null}
      <pre ref={pre} data-testid={`log-${stream}`}>
        {text === null ? "…" : text === "" ? `(${stream} is empty)` : text}
      </pre>
    </div>
  );
}
