"""Gunicorn settings for serving the panel in production: `make serve`, or

    gunicorn -c deploy/gunicorn.conf.py panel.wsgi

These can be changed from the environment (and any setting with gunicorn's own
`GUNICORN_CMD_ARGS`, or options on its command line, which win over this file):

- `PANEL_BIND` (default `127.0.0.1:8000`): where to listen. Keep it on loopback behind the
  reverse proxy that terminates TLS.
- `WEB_CONCURRENCY` (default: 2 x cores + 1 with `PANEL_CACHE_URL` set, else 1): worker
  processes. More than one worker needs `PANEL_CACHE_URL`: the rate-limit counters must be
  shared, or each worker would allow the whole rate.
- `PANEL_DB_CONN_MAX_AGE` (default here `60`): each worker keeps its PostgreSQL connection
  for that many seconds instead of connecting per request; `CONN_HEALTH_CHECKS` (always on
  in panel/settings.py) drops a connection that died meanwhile before a request uses it.
- `PANEL_GUNICORN_TIMEOUT` (default `30`): a worker silent for that long is restarted. It is
  above the database's statement timeout (10 s by default), so a slow query ends as a 503
  before the worker is killed."""

import multiprocessing
import os

# Read by panel/settings.py when each worker loads the app (this file runs first, in the
# master, whose environment the workers inherit).
os.environ.setdefault("PANEL_DB_CONN_MAX_AGE", "60")

bind = os.environ.get("PANEL_BIND", "127.0.0.1:8000")

_shared_cache = bool(os.environ.get("PANEL_CACHE_URL", "").strip())
_default_workers = multiprocessing.cpu_count() * 2 + 1 if _shared_cache else 1
workers = int(os.environ.get("WEB_CONCURRENCY") or _default_workers)
if workers > 1 and not _shared_cache:
    raise SystemExit(
        f"{workers} workers need PANEL_CACHE_URL=redis://host:port/db: rate-limit counters "
        "kept in each worker's memory would let every worker allow the whole rate."
    )

# Sync workers: one request at a time per process, each with its one database connection,
# so PostgreSQL sees at most `workers` connections from this server.
worker_class = "sync"
timeout = int(os.environ.get("PANEL_GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# The app is loaded once, in the master, before the workers are forked: a worker starts (or
# is recycled) in milliseconds instead of importing Django again, and the workers share the
# loaded code's memory. Nothing connects to the database at import time, so no connection is
# shared across the fork. A deploy restarts gunicorn (a HUP would keep the old code).
preload_app = True
# Recycle workers now and then so that a slow leak never grows without bound.
max_requests = 10000
max_requests_jitter = 1000
# This gunicorn (27) opens a control socket in ~/.gunicorn by default: one path for every
# instance on the machine. The panel does not use it.
control_socket_disable = True

# PANEL_ACCESS_LOG set but empty: no access log.
accesslog = os.environ.get("PANEL_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("PANEL_LOG_LEVEL", "info")
# The proxy in front talks to us over loopback; its X-Forwarded-Proto is trusted from there
# only (Django's SECURE_PROXY_SSL_HEADER then reads it).
forwarded_allow_ips = os.environ.get("PANEL_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
