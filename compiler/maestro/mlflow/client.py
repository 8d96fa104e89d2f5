"""The tracking server: its URI per environment, a reachability probe, and an `MlflowClient` whose
errors become `RegistryUnavailable` (exit 2). mlflow is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from maestro.mlflow.state import RegistryUnavailable

if TYPE_CHECKING:
    from maestro.resolve.workspace import Workspace

TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"

# ------------------------------------------------------------------ tracking URI and client


def tracking_uri_for(ws: Workspace, env: str) -> str:
    """The tracking URI `maestro registry` uses for the environment: `MLFLOW_TRACKING_URI` when
    set, else the environment's `endpoints.mlflow_cli`, else the `endpoints.mlflow` its pods use.

    A relative `sqlite:///` path from the config is relative to the repository root (like
    every path in config/), so the embedded store is the same file from any folder; in
    `MLFLOW_TRACKING_URI` it means what it means to MLflow: relative to the working folder.
    """
    override = os.environ.get(TRACKING_URI_VAR)
    if override:
        return absolute_sqlite(override, Path.cwd())
    ws.selected(env)  # UnknownEnvironment unless configured
    endpoints = ws.platforms[env].environments[env].endpoints
    return absolute_sqlite(endpoints.mlflow_cli or endpoints.mlflow, ws.root)


def absolute_sqlite(uri: str, base: Path) -> str:
    """`sqlite:///rel/x.db` -> `sqlite:////<base>/rel/x.db`; other URIs unchanged."""
    path = sqlite_path(uri)
    if path is None or path.is_absolute():
        return uri
    query = uri.partition("?")[2]
    return "sqlite:///" + (base / path).resolve().as_posix() + (f"?{query}" if query else "")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a file-backed sqlite URI (None for other URIs, ':memory:')."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///") :].partition("?")[0]
    if raw in ("", ":memory:"):
        return None
    return Path(raw)


def redact(uri: str) -> str:
    """The URI without credentials, for messages."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    # MLflow 3.17.2's SQL store triggers SQLAlchemy 2.1's SADeprecationWarning ('noload')
    # when imported, and MLflow announces its own API changes with FutureWarnings: notes for
    # MLflow's developers, noise for ours (and errors under pytest's filterwarnings=error).
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


EXTRA_HINT = "pip install 'maestro-ml[registry]' (in a clone of Maestro: pip install -e '.[registry]')"


def require_mlflow() -> None:
    """`maestro registry` talks to MLflow, an optional extra: say which one when it is missing."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise RegistryUnavailable(f"maestro registry needs MLflow, which is not installed: {EXTRA_HINT}")


def probe(uri: str, attempts: int = 3, timeout: float = 5.0) -> None:
    """Fail fast when an http(s) tracking server does not answer.

    MLflow's client retries a refused connection for about four minutes before giving up;
    `GET /health` tells in seconds. Any answer below 500 counts as reachable (authentication
    and routing are for the MLflow client to report), and so does a TLS handshake that fails
    on a certificate MLflow may be configured to trust (MLFLOW_TRACKING_SERVER_CERT_PATH).
    """
    if urlsplit(uri).scheme not in ("http", "https"):
        return
    url = uri.rstrip("/") + "/health"
    reason = ""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500:
                return
            reason = f"HTTP {exc.code} from /health"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLError):
                return
            reason = str(exc.reason)
        except OSError as exc:  # timeouts, resets
            reason = str(exc) or type(exc).__name__
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    raise RegistryUnavailable(f"MLflow tracking server {redact(uri)} is not reachable ({reason})")


def connect(uri: str, attempts: int = 3) -> Any:
    """An `MlflowClient` for `uri` (tracking and registry), after checking it can be reached.

    A file-backed sqlite store gets its folder created (sqlite creates files, not folders).
    """
    probe(uri, attempts=attempts)
    db = sqlite_path(uri)
    try:
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        with quiet_warnings():
            from mlflow import MlflowClient

            quiet_logs()  # after the import: importing mlflow sets its loggers' level (MLFLOW_LOGGING_LEVEL or INFO)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:
        raise RegistryUnavailable(f"cannot open MLflow tracking store {redact(uri)}: {first_line(exc)}") from None
    return client


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def artifact_location(client: Any, experiment: str) -> str | None:
    """Where a new experiment's artifacts go: beside an embedded sqlite store, else the server's choice.

    Without it MLflow records `./mlruns/<id>` of whatever folder sync ran in.
    """
    db = sqlite_path(str(getattr(client, "tracking_uri", "")))
    if db is None:
        return None
    return (db.parent.resolve() / "mlartifacts" / quote(experiment, safe="")).as_uri()


def _is_missing(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


@contextlib.contextmanager
def mlflow_calls(client: Any) -> Iterator[None]:
    """MLflow errors that are not ours to interpret become RegistryUnavailable (exit 2)."""
    from mlflow.exceptions import MlflowException

    try:
        with quiet_warnings():
            yield
    except MlflowException as exc:
        uri = redact(str(getattr(client, "tracking_uri", "")))
        raise RegistryUnavailable(f"MLflow at {uri}: {first_line(exc)}") from None


def get_registered_model(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def get_model_version(client: Any, name: str, version: int) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def get_run(client: Any, run_id: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def aliases_of(rm: Any) -> dict[str, int]:
    # Versions are ints over a direct sqlite store and strings over REST (FACTS.md).
    return {str(alias): int(version) for alias, version in (rm.aliases or {}).items()}


def quiet_logs() -> None:
    # MLflow logs schema migrations of a new sqlite store at INFO: not news for our users.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
