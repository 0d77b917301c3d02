// The dashboard's shell: the sign-in gate, the navigation and the route switch.
import { lazy, Suspense, useEffect, useState } from "react";
import { currentSession, setUnauthorizedHandler, signOut, type SessionInfo } from "./api";
import { go, useRoute } from "./ui/router";
import { SignIn } from "./views/SignIn";
import { Queues } from "./views/Queues";
import { Jobs } from "./views/Jobs";
import { Workflows } from "./views/Workflows";

// Views with charts (uPlot) and the editor (React Flow, schema forms) load when opened, so the
// dashboard's first load carries only the queues and jobs views.
const Editor = lazy(() => import("./editor/Editor"));
const JobPage = lazy(() => import("./views/JobPage").then((m) => ({ default: m.JobPage })));
const Costs = lazy(() => import("./views/Costs").then((m) => ({ default: m.Costs })));
const Hardware = lazy(() => import("./views/Hardware").then((m) => ({ default: m.Hardware })));

const NAV: [string, string][] = [
  ["queues", "Queues"],
  ["jobs", "Jobs"],
  ["workflows", "Workflows"],
  ["editor", "Editor"],
  ["costs", "Costs"],
  ["hardware", "Hardware"],
];

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    currentSession()
      .then(setSession)
      .catch(() => setSession(null));
  }, []);

  // The view loads while the session is asked for (one round trip less on first load); any
  // 401 on the way shows the sign-in form.
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const [view, arg] = route;
  let body;
  switch (view) {
    case "jobs":
      body = arg ? <JobPage key={arg} id={arg} /> : <Jobs />;
      break;
    case "workflows":
      body = <Workflows key={arg ?? ""} id={arg} />;
      break;
    case "editor":
      body = <Editor />;
      break;
    case "costs":
      body = <Costs />;
      break;
    case "hardware":
      body = <Hardware />;
      break;
    default:
      body = <Queues />;
  }
  return (
    <div className={view === "editor" ? "shell wide" : "shell"}>
      <header>
        <a className="brand" href="#/queues">
          tessera
        </a>
        <nav>
          {NAV.map(([key, label]) => (
            <a key={key} href={`#/${key}`} className={view === key || (key === "queues" && !NAV.some(([k]) => k === view)) ? "active" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {session?.project ? `project ${session.project}` : ""} {session?.role ? `· ${session.role}` : ""}
        </span>
        <button
          className="link"
          onClick={async () => {
            await signOut().catch(() => undefined);
            setSession(null);
            go("queues");
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Suspense fallback={<div className="muted">Loading…</div>}>{body}</Suspense>
      </main>
    </div>
  );
}
