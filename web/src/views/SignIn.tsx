// Sign-in: an API token (from `tessera token create`) is traded for a browser session.
import { useState, type FormEvent } from "react";
import { ApiError, signIn, type SessionInfo } from "../api";

export function SignIn({ onSignedIn }: { onSignedIn: (s: SessionInfo) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setError("That token was not accepted. Create one with `tessera token create`.");
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="signin">
      <form onSubmit={submit}>
        <h1>tessera</h1>
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} placeholder="tsr_…" autoFocus />
        <button type="submit" disabled={busy || token.trim() === ""}>
          Sign in
        </button>
        {error ? (
          <div className="error" role="alert">
            {error}
          </div>
        ) : null}
        <p className="muted">
          Create a token with <code>tessera token create --project NAME --role submitter</code>. It is sent once, and the browser keeps only a session cookie.
        </p>
      </form>
    </div>
  );
}
