"""structlog configuration shared by the web and Celery processes: JSON lines or a console view.

structlog loggers and stdlib loggers (Django, Celery, libraries) end in the same handler, whose
`ProcessorFormatter` adds timestamp, level, logger and `correlation_id`, masks PII last and renders
one JSON object per line (`LOG_FORMAT=json`, the production default) or a readable console line.

Settings call `logging_settings(...)` for Django's `LOGGING` and `configure_structlog()` once;
scripts and tests that run without Django use `configure_logging(json=..., level=...)`.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

from pyloto.observability.masking import mask_pii_processor

# Shared by structlog's own chain and by records that come from the stdlib (foreign_pre_chain).
_COMMON: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


_HEAD = ("timestamp", "level", "logger", "event", "correlation_id")


def _json_shape(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # A fixed schema for log queries: the same leading keys in the same order on every line, and
    # `correlation_id` always present (null outside a message's run).
    shaped = {key: event_dict.pop(key, None) for key in _HEAD}
    shaped.update(event_dict)
    return shaped


def build_formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter every handler uses; masking is the last step before rendering."""
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False, default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become text before masking: exception messages carry customer data too.
        structlog.processors.format_exc_info,
    ]
    if json:
        processors.append(_json_shape)
    processors += [mask_pii_processor, renderer]
    return structlog.stdlib.ProcessorFormatter(
        processors=processors,
        foreign_pre_chain=[*_COMMON, structlog.stdlib.ExtraAdder()],
    )


def logging_settings(*, json: bool, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (Django's `LOGGING`): one stdout handler, our formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": "pyloto.observability.logging.build_formatter", "json": json},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "structured",
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # django.server repeats what django-structlog's request_finished already says.
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
            # Celery's "received" and "succeeded" lines repeat every task's whole arguments and result
            # (the prompt payload with the customer's words); our own events say what happened, and
            # failures still log at WARNING/ERROR. The HTTP clients' per-request lines likewise.
            "celery.worker.strategy": {"level": "WARNING"},
            "celery.app.trace": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpx2": {"level": "WARNING"},
        },
    }


def configure_structlog() -> None:
    """Route structlog loggers through the stdlib so one handler renders every line."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_COMMON,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Configure structlog and the stdlib in one call (processes that run without Django)."""
    configure_structlog()
    logging.config.dictConfig(logging_settings(json=json, level=level))
