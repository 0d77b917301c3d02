// What a view shows while its data loads, when the server lacks the route, or on error.
import type { ReactNode } from "react";
import type { Resource } from "./useResource";

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" data-testid="empty">
      <strong>{title}</strong>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

export function Shown<T>({ res, what, children }: { res: Resource<T>; what: string; children: (data: T) => ReactNode }) {
  switch (res.status) {
    case "loading":
      return <div className="muted">Loading {what}…</div>;
    case "missing":
      return (
        <Empty title={`No ${what} yet`}>
          {res.said ? `${res.said}.` : <>This server does not offer <code>{`/api/v1${res.path.split("?")[0]}`}</code>.</>} There is nothing to show here.
        </Empty>
      );
    case "error":
      return (
        <div className="error" role="alert">
          Could not load {what}: {res.message}
        </div>
      );
    case "ok":
      return <>{children(res.data)}</>;
  }
}
