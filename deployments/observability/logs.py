"""The stages' own log records through Ray Serve's replica logger.

Serve configures one logger per replica, ``ray.serve`` (``configure_component_logger`` in
``ray/serve/_private/logging_utils.py``): its level is the deployment's
``logging_config.log_level``, its handlers write Serve's text lines to stderr and, with
``encoding: JSON``, JSON lines to ``logs/serve/replica_<app>_<Deployment>_<id>.log`` whose
filters add ``request_id``, ``route``, ``application``, ``deployment`` and ``replica``; it
does not propagate. The stages log through ``logging.getLogger(__name__)``, loggers under
``deployments``, which by default hang off the root logger and never meet those handlers.

:func:`route_stage_logs` makes ``ray.serve`` the parent of the ``deployments`` logger, so
every ``deployments.*`` record is handled by Serve's handlers and filters, at Serve's level,
exactly like one of Serve's own. Being a parent link rather than a copy, it keeps following
the replica's logger when Serve reconfigures it (a new ``logging_config``: Serve clears and
refills the same logger's handlers and sets its level).
"""

from __future__ import annotations

import logging

#: The logger Serve configures in each replica (``SERVE_LOGGER_NAME``).
SERVE_LOGGER = "ray.serve"
#: The parent of every stage's module logger.
STAGE_LOGGER = "deployments"


def route_stage_logs() -> bool:
    """In a Serve replica, hand every ``deployments.*`` log record to Serve's logger.

    Call it at the top of a deployment's ``__init__`` (Serve has configured its logger and
    set the replica context by then): the records of the stage's modules, and of
    ``deployments.common`` and the rest, then go to the replica's log file (JSON with the
    request id under ``encoding: JSON``) and to Serve's console format, and none to the
    root logger. A logger under ``deployments`` with a level of its own keeps it; the
    others follow ``ray.serve``'s level. Idempotent.

    Outside a replica (a unit test building a deployment class, the driver) it changes
    nothing and returns ``False``, so pytest's ``caplog`` still sees the stages' records.

    >>> route_stage_logs()  # not in a replica
    False
    """
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_replica_context()
    except RayServeException:
        return False
    stages = logging.getLogger(STAGE_LOGGER)
    stages.parent = logging.getLogger(SERVE_LOGGER)
    # The loggers cache what they found enabled under the old parent; setting a level (the
    # same one) makes ``logging`` forget it.
    stages.setLevel(stages.level)
    return True
