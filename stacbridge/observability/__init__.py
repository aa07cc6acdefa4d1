"""What an operator sees of a running gateway: Prometheus metrics, JSON logs, readiness.

* `metrics` - the metric families and the `/metrics` exposition (per worker, or summed over
  the workers of one `stacbridge serve --workers N` through prometheus-client's multiprocess
  mode);
* `logging` - the request id context variable, a JSON formatter that never prints a secret,
  and the uvicorn log configuration `stacbridge serve` uses;
* `middleware` - one ASGI middleware: request id in and out, `Server-Timing: total`, the
  HTTP request metrics and one access-log line per request;
* `readiness` - `/readyz`: every provider answers (and logs in where that is cheap).
"""
