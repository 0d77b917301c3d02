"""The API's routers, one module per area: jobs, platform (queues, projects, hardware, costs,
components, workflows), admin (audit, webhooks), monitoring (utilisation, /metrics), session."""
