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

It also keeps Serve's log *file* working when a library reconfigures logging later in the
replica. ``logging.config.dictConfig`` (unless ``incremental``) first closes every handler
of the process, whatever ``disable_existing_loggers`` says
(``logging.config._clearExistingHandlers``). Serve writes its file through a
``MemoryHandler`` in front of a ``RotatingFileHandler``; closed, the ``MemoryHandler``
forgets its file handler and from then on keeps every record in memory and writes none,
while the console handler (stderr stays open) goes on. pymilvus does this on import
(``pymilvus/settings.py``: ``init_log``), that is on the first ``MilvusStore`` of the
Retriever, Reranker and Ingester; vLLM does it when its engine starts unless
``VLLM_CONFIGURE_LOGGING=0`` (set for the application in ``serve_config.yaml``). So
:func:`route_stage_logs` puts a filter on Serve's ``MemoryHandler`` that hands it its file
handler back before the next record (:class:`KeepFileTarget`); the file handler reopens its
file by itself.
"""

from __future__ import annotations

import logging
import logging.handlers

#: The logger Serve configures in each replica (``SERVE_LOGGER_NAME``).
SERVE_LOGGER = "ray.serve"
#: The parent of every stage's module logger.
STAGE_LOGGER = "deployments"


class KeepFileTarget(logging.Filter):
    """On Serve's ``MemoryHandler``: gives it back its file handler if something closed it.

    Passes every record; only checks, before each one, that the handler still has its
    target. A closed ``MemoryHandler`` has ``target = None`` (``MemoryHandler.close``)
    and writes nothing; its ``RotatingFileHandler`` (mode ``"a"``) reopens the file on
    the next record it is given, so setting the target back is the whole repair.
    """

    def __init__(self, handler: logging.handlers.MemoryHandler) -> None:
        super().__init__()
        self.handler = handler
        self.target = handler.target

    def filter(self, record: logging.LogRecord) -> bool:
        if self.handler.target is None and self.target is not None:
            self.handler.setTarget(self.target)
        return True


def keep_serve_log_files() -> None:
    """Put a :class:`KeepFileTarget` on each of ``ray.serve``'s buffering handlers (Serve's
    JSON or text file), once; the first filter, so it runs before Serve's own."""
    for handler in logging.getLogger(SERVE_LOGGER).handlers:
        if not isinstance(handler, logging.handlers.MemoryHandler) or handler.target is None:
            continue
        if not any(isinstance(f, KeepFileTarget) for f in handler.filters):
            handler.filters.insert(0, KeepFileTarget(handler))


def route_stage_logs() -> bool:
    """In a Serve replica, hand every ``deployments.*`` log record to Serve's logger.

    Call it at the top of a deployment's ``__init__`` (Serve has configured its logger and
    set the replica context by then): the records of the stage's modules, and of
    ``deployments.common`` and the rest, then go to the replica's log file (JSON with the
    request id under ``encoding: JSON``) and to Serve's console format, and none to the
    root logger. A logger under ``deployments`` with a level of its own keeps it; the
    others follow ``ray.serve``'s level. The replica's log file keeps being written if a
    library imported afterwards (pymilvus) reconfigures logging (:func:`keep_serve_log_files`).
    Idempotent.

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
    keep_serve_log_files()
    return True
