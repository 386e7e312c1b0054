"""Where a shared search's storage URL comes from, and how it is named in messages: never with its password.

A URL on the command line (``--storage postgresql+psycopg://asl:PASSWORD@db/asl``) is in
the process list, which every local user can read (``ps -ef``, ``/proc/<pid>/cmdline``).
So, as Optuna's own CLI does, the URL may come from the ``OPTUNA_STORAGE`` environment
variable (readable only by the process's user), or from a file (``--storage-file``,
``LocalBackend(storage_file=...)``) that the deployment mounts as a secret.
SQLAlchemy parses the URL and renders it with the password masked.
"""

from __future__ import annotations

import os
from pathlib import Path

from asl_recog._errors import ConfigurationError

#: Optuna's own environment variable for the storage URL (its CLI reads it too).
STORAGE_ENV = "OPTUNA_STORAGE"


def masked(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs.

    Example:
        >>> masked("postgresql+psycopg://asl:s3cret@db.example:5432/asl")
        'postgresql+psycopg://asl:***@db.example:5432/asl'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<an unreadable URL>"  # unparsed, it may hold a password anywhere: show none of it


def check_url(url: str, where: str) -> str:
    """``url`` if SQLAlchemy can parse it as a database URL; a clear error (password masked) otherwise.

    Example:
        >>> check_url("sqlite:///study.db", "--storage")
        'sqlite:///study.db'
        >>> check_url("db.example/asl", "--storage")
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: --storage: <an unreadable URL> is not a database URL (ArgumentError); ...
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            f"{where}: {masked(url)} is not a database URL ({type(exc).__name__}); write e.g. "
            "postgresql+psycopg://user:password@host/database or sqlite:///path/study.db"
        ) from None  # SQLAlchemy's own message may quote the URL, password included
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "mysql", "oracle", "mssql"):
        raise ConfigurationError(f"{where}: {masked(url)} names no database Optuna stores studies in")
    return url


def storage_url(storage: str | None, storage_file: str | os.PathLike[str] | None, where: str) -> str | None:
    """The storage URL from, in order: ``storage``, ``storage_file``'s first line, ``$OPTUNA_STORAGE``; None without.

    Raises:
        ConfigurationError: both ``storage`` and ``storage_file`` given, an unreadable or empty file,
            or a URL that does not parse (named with its password masked).

    Example:
        >>> storage_url(None, None, "--storage") is None or "OPTUNA_STORAGE" in os.environ
        True
    """
    if storage is not None and storage_file is not None:
        raise ConfigurationError(f"{where}: give the storage URL once, as a URL or as a file, not both")
    if storage_file is not None:
        try:
            lines = Path(storage_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigurationError(
                f"{where}: cannot read the storage file {os.fspath(storage_file)!r} ({exc})"
            ) from exc
        storage = lines[0].strip() if lines and lines[0].strip() else None
        if storage is None:
            raise ConfigurationError(
                f"{where}: the storage file {os.fspath(storage_file)!r} is empty; write the URL in it"
            )
    elif storage is None:
        storage = os.environ.get(STORAGE_ENV) or None
        where = f"${STORAGE_ENV}" if storage is not None else where
    return None if storage is None else check_url(storage, where)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL when it does not exist (None otherwise, or for a server).

    Example:
        >>> missing_sqlite_file("sqlite:///no/such/study.db")
        PosixPath('no/such/study.db')
        >>> missing_sqlite_file("postgresql+psycopg://u@db/optuna") is None
        True
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    path = Path(database)
    return None if path.exists() else path


def unreachable(url: str, exc: BaseException) -> str:
    """One line naming the storage's host and why it could not be opened (no password, no traceback)."""
    from sqlalchemy.engine import make_url

    host = make_url(url).host or make_url(url).database or "the database"
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = cause[0] if cause else type(exc).__name__
    password = make_url(url).password
    if password:
        text = text.replace(str(password), "***")
    return f"cannot open the storage at {host} ({masked(url)}): {text}"


__all__ = ["STORAGE_ENV", "check_url", "masked", "missing_sqlite_file", "storage_url", "unreachable"]
