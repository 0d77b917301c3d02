"""The tessera server: a REST API (FastAPI) over the store, hosting the controller.

    tokens      API tokens: create (shown once), store hashed, scope to project + role, revoke
    audit       the append-only, hash-chained audit log of every mutation
    security    who is calling (bearer token or UI session), roles, CSRF, Host/Origin, rate limits
    wire        the JSON forms of jobs, attempts and events (shared with the remote client)
    app         the application factory: routes, error mapping, static dashboard assets
    host        running it: the controller, the sampler and webhook threads, uvicorn
"""
