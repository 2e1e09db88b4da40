"""Tracking servers: whether one answers before any work, and how long MLflow may retry later.

    bound_retries()                               # before the first MLflow call
    check_reachable("http://127.0.0.1:5000")      # UserError within ~10 s when nothing answers
    lost(error)                                   # True when `error` means the server went away

MLflow retries a failing HTTP request 7 times with exponential backoff and a 120 s timeout
each, which keeps a sweep silent for minutes when its server is gone. Unless the user set them,
textsweep lowers these so a sweep gives up within `RETRY_WINDOW` and stops resumable.
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request

from textsweep.credentials import browser_base
from textsweep.errors import SweepFailed, UserError

# MLflow's own variables; a value the user set is kept
RETRY_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
# With RETRY_ENV: urllib3 sleeps 0, 4, 8 and 16 s (+ up to 1 s jitter each) between the 5 tries.
RETRY_WINDOW = "about 30 s when the server refuses connections, at most about 2.5 min when it hangs"

CHECK_TIMEOUT = 8.0


class TrackingLost(SweepFailed):
    """The tracking server stopped answering during a sweep; the execution is left resumable."""


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def bound_retries() -> None:
    """Bound MLflow's HTTP retries (see `RETRY_ENV`) unless the user set them; children inherit.

    Also keeps MLflow from printing "View run ... at: URL" after every run against a server, and
    its artifact download bars (registering the champion) from cutting into textsweep's lines.
    """
    for name, value in RETRY_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def prepare_client(uri: str) -> None:
    """Before any work: bound MLflow's retries, and check that a tracking server answers."""
    bound_retries()
    check_reachable(uri)


def reraise_lost(error: BaseException, uri: str) -> None:
    """Raise `TrackingLost` (saying how to continue) when `error` means the server is gone."""
    if lost(error):
        raise TrackingLost(lost_message(uri, error)) from error


def check_reachable(
    uri: str, *, timeout: float = CHECK_TIMEOUT, source: str = "--tracking-uri"
) -> None:
    """Raise `UserError` naming `uri` when an http(s) tracking server does not answer.

    Any HTTP answer counts, an authentication refusal (401) included: the server is there.
    Other URIs (SQLite, a folder) are not checked.
    """
    if not is_remote(uri):
        return
    try:
        with urllib.request.urlopen(_probe(uri), timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"the MLflow tracking server at {uri} does not answer ({reason}); start it "
            "(e.g. `mlflow server --host 127.0.0.1 --port 5000`) or check the URI",
            source=source,
        ) from None


def _probe(uri: str) -> urllib.request.Request:
    """A cheap request to the server at `uri`; `user:password@` in it becomes a Basic header,
    as MLflow's own client (requests) sends it."""
    url = browser_base(uri) + "/api/2.0/mlflow/experiments/search?max_results=1"
    request = urllib.request.Request(url)
    parts = urllib.parse.urlsplit(uri)
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    return request


def lost(error: BaseException) -> bool:
    """Whether `error` (or an error it came from) says the tracking server cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TrackingLost):
            return True
        name = type(current).__name__
        text = str(current)
        if (
            name
            in (
                "ConnectionError",
                "MaxRetryError",
                "NewConnectionError",
                "ReadTimeout",
                "ConnectTimeout",
            )
            or "Max retries exceeded" in text
        ):
            return True
        if (
            name == "MlflowException"
            and "API request to" in text
            and "failed with exception" in text
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def lost_message(uri: str, error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (
        f"the MLflow tracking server at {uri} stopped answering ({text[-1][:200] if text else error}); "
        f"textsweep retried for {RETRY_WINDOW} and stopped. The finished trials are in MLflow; "
        "when the server answers again, continue with the same command and --resume"
    )
