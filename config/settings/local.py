"""Local development: debug on, embedded defaults (SQLite, in-process tasks) when no services run."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
