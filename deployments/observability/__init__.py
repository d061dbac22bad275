"""Observability every stage shares: tracing on top of Ray Serve's own spans, and the
stages' log records in Serve's replica logs (``logs.route_stage_logs``).

Ground floor, like ``deployments/common``: stages import from here, nothing here imports a
stage (``tests/deployments/test_layering.py``). Metrics live in ``deployments/metrics.py``;
docs/OBSERVABILITY.md says how to turn tracing, JSON logs and the dashboard on.
"""
