// Live logs of a job: its latest attempt's stdout or stderr, tailed by byte offset while it runs
// (GET /jobs/{ref}/logs answers {data, offset, size, done, attempt}).
import { useEffect, useRef, useState } from "react";
import { get, Missing } from "../api";
import { poll } from "../ui/poll";

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
    let offset = 0;
    let attempt: number | null = null;
    let acc = "";
    setText(null);
    setProblem(null);
    return poll(async (stopped) => {
      try {
        const c = await get<Chunk>(`/jobs/${jobId}/logs?stream=${stream}&offset=${offset}`);
        if (stopped()) return null;
        if (c.attempt !== attempt) {
          // a new attempt started: its output replaces the previous one's
          attempt = c.attempt;
          acc = "";
          if (offset !== 0) {
            offset = 0;
            return 0;
          }
        }
        acc += c.data;
        offset = c.offset;
        setText(acc);
        setLive(!c.done);
        return c.done ? null : 1000;
      } catch (e) {
        if (stopped()) return null;
        setProblem(e instanceof Missing ? `This server offers no logs route (${e.message}).` : `Could not read the logs: ${e instanceof Error ? e.message : String(e)}`);
        return e instanceof Missing ? null : 1000;
      }
    });
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
