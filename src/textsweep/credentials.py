"""Secrets in URIs masked wherever textsweep prints or logs them.

    mask("http://alice:S3cret@mlflow.example.com:5000")   # 'http://alice:***@mlflow.example.com:5000'
    mask("https://host/store?token=abc&x=1")             # 'https://host/store?token=***&x=1'
    mask_text("error at postgresql://bob:pw@db/mlflow")  # every URI in a text, masked
    browser_base("http://alice:S3cret@host:5000")         # 'http://host:5000', a link to open

A tracking URI may carry a password (`http://user:password@host`, a database URI) or a token
in its query; it is still used as given, only what is shown is masked.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:]*):[^\s/]*@")
_SECRET_QUERY = re.compile(
    r"([?&;](?:[A-Za-z0-9_\-]*(?:token|password|passwd|pwd|secret|signature|sig|api[_\-]?key|"
    r"access[_\-]?key|auth)[A-Za-z0-9_\-]*)=)[^&;\s#\"']+",
    re.IGNORECASE,
)


def mask(uri: str) -> str:
    """`uri` with the password of `user:password@` and secret-looking query values replaced."""
    return mask_text(uri)


def browser_base(uri: str) -> str:
    """A server URI as a browser link: no `user:password@` (the browser asks), no query."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri.rstrip("/"))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def mask_text(text: str) -> str:
    """`text` with every URI in it masked as `mask` does."""
    if "://" not in text and "=" not in text:
        return text
    return _SECRET_QUERY.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>:{MASK}@", text))


class MaskingFilter(logging.Filter):
    """A logging filter that masks URIs in each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_logs(*names: str) -> None:
    """Mask URIs in what the handlers of these loggers (and the root logger) write; idempotent."""
    for name in ("", *names):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())


def masked_data(data: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every string masked."""
    if isinstance(data, str):
        return mask_text(data)
    if isinstance(data, dict):
        return {k: masked_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [masked_data(v) for v in data]
    return data
