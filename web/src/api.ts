// The one place that talks to tessera's REST API: session, CSRF header, errors.
//
// Every view reads through `get`, which tells a missing route (404/405/501 on a path the server
// does not offer) apart from a real error, so a view can show an honest empty state instead of
// inventing data.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

/** The route exists on no server version we talk to (404 without a JSON error, 405, 501). */
export class Missing extends Error {
  constructor(
    readonly path: string,
    readonly said?: string,
  ) {
    super(said ?? `the server offers no ${path}`);
  }
}

const CSRF_KEY = "tessera.csrf";

function csrfToken(): string | null {
  const stored = sessionStorage.getItem(CSRF_KEY);
  if (stored) return stored;
  const m = document.cookie.match(/(?:^|;\s*)tessera_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

/** Called when any request answers 401: the app shows the sign-in page. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    const t = csrfToken();
    if (t) headers["X-CSRF-Token"] = t;
  }
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  return fetch(API + path, { method, headers, body: payload, credentials: "same-origin" });
}

async function decode<T>(res: Response, path: string): Promise<T> {
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data as T;
  if (res.status === 401) onUnauthorized();
  const err = (data ?? {}) as { error?: string; detail?: unknown; message?: string; fix?: string };
  const said = err.error ?? err.message ?? (typeof err.detail === "string" ? err.detail : undefined);
  // A route this server lacks: FastAPI's bare 404, the server's "no route", or a part of tessera
  // absent from this build ("... is not part of this tessera build").
  if (res.status === 405 || res.status === 501 || (res.status === 404 && (said === undefined || said === "Not Found" || /^no route |not part of this tessera build/.test(said))))
    throw new Missing(path, said && said !== "Not Found" ? said : undefined);
  const message = said ?? (err.detail !== undefined ? JSON.stringify(err.detail) : text || res.statusText);
  throw new ApiError(res.status, message, err.fix);
}

export async function get<T>(path: string): Promise<T> {
  return decode<T>(await request("GET", path), path);
}

export async function send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T> {
  return decode<T>(await request(method, path, body), path);
}

// ------------------------------------------------------------------------------ session

export interface SessionInfo {
  project?: string;
  role?: string;
  csrf_token?: string;
}

/** Trade an API token for a browser session (cookie) and keep the CSRF token it returns. */
export async function signIn(token: string): Promise<SessionInfo> {
  const res = await fetch(API + "/session", {
    method: "POST",
    // The token travels once, as a bearer header; the answer sets an HttpOnly session cookie.
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    credentials: "same-origin",
  });
  const info = await decode<SessionInfo>(res, "/session");
  if (info?.csrf_token) sessionStorage.setItem(CSRF_KEY, info.csrf_token);
  return info ?? {};
}

export async function currentSession(): Promise<SessionInfo | null> {
  const res = await request("GET", "/session");
  if (res.status === 401 || res.status === 403) return null;
  const info = await decode<SessionInfo>(res, "/session");
  if (info?.csrf_token) sessionStorage.setItem(CSRF_KEY, info.csrf_token);
  return info ?? {};
}

export async function signOut(): Promise<void> {
  try {
    await send("DELETE", "/session");
  } finally {
    sessionStorage.removeItem(CSRF_KEY);
  }
}

/** The items of a list answer, whether the server sends a bare list or `{items: [...]}`. */
export function items<T>(data: unknown, key = "items"): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === "object") {
    const v = (data as Record<string, unknown>)[key];
    if (Array.isArray(v)) return v as T[];
  }
  return [];
}
