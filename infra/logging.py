"""structlog set-up: JSON lines on stderr in production, key-value pairs on a terminal."""

from __future__ import annotations

import logging
import os
import sys
import uuid

import structlog


def configure_logging(level: str | None = None) -> None:
    """Send every log line to stderr so that stdout carries only the command's output."""
    name = (level or os.environ.get("FUNDTRAIL_LOG_LEVEL") or "info").upper()
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(name)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def bind_correlation_id(entry_point: str) -> str:
    """Tag every log line of this run with one id, so a run's lines can be found together."""
    correlation_id = uuid.uuid4().hex[:16]
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, entry_point=entry_point)
    return correlation_id
