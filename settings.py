"""One settings object for the whole project: database URL and folders, read from the environment.

Every path defaults to somewhere under ``var/`` in the project folder, so a fresh checkout
keeps all of its state (SQLite file, Prefect home, inbox, published lists) in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent
# the district's wall-clock time: schedules, run names, and times a sheet writes with an offset
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Where threelists keeps its state. Override any field with its ``THREELISTS_*`` variable."""

    var_dir: Path = field(default_factory=lambda: _path("THREELISTS_VAR", PROJECT_ROOT / "var"))
    database_url: str = ""

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("THREELISTS_DATABASE_URL") or f"sqlite:///{self.var_dir / 'threelists.db'}"
            object.__setattr__(self, "database_url", url)

    @property
    def inbox_dir(self) -> Path:
        """Files handed over by grid workers, units and platforms land here."""
        return _path("THREELISTS_INBOX", self.var_dir / "inbox")

    @property
    def archive_dir(self) -> Path:
        """Every source file read, stored by checksum."""
        return self.var_dir / "archive"

    @property
    def published_dir(self) -> Path:
        """Service lists and survey call lists, one folder per cycle and version."""
        return self.var_dir / "published"

    @property
    def outbox_dir(self) -> Path:
        """Full contacts, each only for who must act: units' accepted work orders
        (``outbox/units/<unit>/``) and the follow-up team's call list (``outbox/followups/``);
        removed when the work or the calls are done."""
        return self.var_dir / "outbox"

    @property
    def retain_contact_days(self) -> int:
        """A closed need keeps the resident's contact this many days after it closed, then the
        retention flow anonymises it (THREELISTS_RETAIN_CONTACT_DAYS, default 90)."""
        return int(os.environ.get("THREELISTS_RETAIN_CONTACT_DAYS", "90"))

    @property
    def retain_source_days(self) -> int:
        """Archived source files and quarantined raw rows keep their personal columns this many
        days, then are redacted, checksums kept (THREELISTS_RETAIN_SOURCE_DAYS, default 30)."""
        return int(os.environ.get("THREELISTS_RETAIN_SOURCE_DAYS", "30"))

    @property
    def reports_dir(self) -> Path:
        """Metrics tables, charts and HTML reports."""
        return self.var_dir / "reports"

    @property
    def data_docs_dir(self) -> Path:
        """great-expectations Data Docs for each validation run."""
        return self.var_dir / "data_docs"

    @property
    def forms_dir(self) -> Path:
        """Survey forms (XLSForm, printable sheets) and visiting rosters."""
        return self.var_dir / "forms"

    @property
    def snapshots_dir(self) -> Path:
        """Column snapshots of large, rarely changed tables (``store.snapshots``): a cache, safe to delete."""
        return self.var_dir / "snapshots"

    def ensure_dirs(self) -> None:
        for path in (
            self.var_dir,
            self.inbox_dir,
            self.archive_dir,
            self.published_dir,
            self.reports_dir,
            self.data_docs_dir,
            self.forms_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)


def keep_memory() -> bool:
    """Keep the memory a run's arrays free within the process, in small pages; whether it was set.

    A cycle builds, solves and explains with arrays of up to a few hundred MiB, freed and taken
    again stage after stage. By default glibc gives every freed block of 32 MiB or more back to the
    kernel and numpy asks the kernel for huge pages; taking memory back from the kernel then costs
    0.85-1.2 s a GiB of system time on this project's VMs, and the kernel's huge-page compaction
    (THP ``defrag=madvise``, Debian's default) up to 10 s for the first GiB. So the build of a
    100k-need cycle took 6.8-12.8 s in one process and 2.5-4.0 s with this (``bench_cycle``,
    docs/benchmarks.md). The price: a run's process keeps its peak memory until it ends (a flow
    run is a process of its own). ``THREELISTS_KEEP_MEMORY=0`` leaves both defaults; a
    ``NUMPY_MADVISE_HUGEPAGE`` the operator set is left as set. Not glibc (macOS, musl): only the
    numpy part.
    """
    if not keeps_memory():
        return False
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        from numpy._core import multiarray

        multiarray._set_madvise_hugepage(False)
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-4, 0)  # M_MMAP_MAX: large blocks from the heap, not from mmap
        libc.mallopt(-1, -1)  # M_TRIM_THRESHOLD -1: never give the heap's top back (mallopt(3))
    return True


def keeps_memory() -> bool:
    """Whether :func:`keep_memory` keeps it: unless ``THREELISTS_KEEP_MEMORY=0``."""
    return os.environ.get("THREELISTS_KEEP_MEMORY", "1") != "0"


def _glibc() -> Any:
    """The C library, when it is glibc on Linux (its ``mallopt`` and ``malloc_trim``); else None."""
    import ctypes
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        return ctypes.CDLL(None)
    return None


def hand_back_memory() -> None:
    """Give the kernel the free memory this process kept (:func:`keep_memory`): before forking
    workers, which would otherwise each take a private copy of every kept page they write to
    (their malloc inherits this process's free lists). At 1M needs the solver's pool then peaked
    at 3.5-3.8 GiB instead of 4.0 (PSS, ``make bench``). glibc's ``malloc_trim(0)``; elsewhere
    nothing."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def get_settings() -> Settings:
    """Read the settings from the environment now (tests change it between calls)."""
    return Settings()


def pause_point(name: str) -> None:
    """A fault-injection point for the crash tests: when ``THREELISTS_PAUSE_AT`` names this point,
    say so (``THREELISTS_PAUSE_FILE`` is created) and wait there to be killed — or, with
    ``THREELISTS_PAUSE_SECONDS``, that long before going on, or until ``THREELISTS_RESUME_FILE``
    exists if that comes first (an overlap made certain). A no-op otherwise.

    Points: ``match:after-lock``, ``match:mid-solve``, ``match:mid-write``, ``publish:<kind>``
    (e.g. ``publish:service_list``), ``intake:mid-file``.
    """
    if os.environ.get("THREELISTS_PAUSE_AT") != name:
        return
    import time

    marker = os.environ.get("THREELISTS_PAUSE_FILE")
    if marker:
        Path(marker).write_text(f"{name} {os.getpid()}\n", encoding="utf-8")
    resume = os.environ.get("THREELISTS_RESUME_FILE")
    if os.environ.get("THREELISTS_PAUSE_SECONDS"):
        until = time.monotonic() + float(os.environ["THREELISTS_PAUSE_SECONDS"])
        while time.monotonic() < until and not (resume and Path(resume).exists()):
            time.sleep(0.2)
        return
    while True:
        time.sleep(60)
