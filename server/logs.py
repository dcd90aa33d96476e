"""Logging set-up: one line per event, `text` or `json`, with its ids as key=value pairs.

Callers pass ids through `extra=` (`log.info("sent", extra={"mailing_id": 1})`); every such field
is appended to the line, so one grep for `mailing_id=42` finds a mailing's whole story.
Records are formatted and written by a listener thread: the event loop only enqueues them.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
from logging.handlers import QueueHandler, QueueListener
from queue import SimpleQueue

from server.settings import LogSettings

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _context(record: logging.LogRecord) -> dict:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = " ".join(f"{key}={value}" for key, value in _context(record).items())
        return f"{line} {pairs}" if pairs else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        return record


def setup_logging(settings: LogSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    queue: SimpleQueue = SimpleQueue()
    listener = QueueListener(queue, handler)
    listener.start()
    atexit.register(listener.stop)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(queue)]
    root.setLevel(settings.level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
