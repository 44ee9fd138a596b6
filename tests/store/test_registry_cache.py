"""The registry caches (store.reference) follow a register's writes to their end: another session of
the process that reads between a rename and its commit, or a session that reads its own rename and
then rolls it back, leaves nothing stale behind (a rename changes no registry's row count, which
is all the cache's key would notice)."""

from __future__ import annotations

from sqlalchemy import select

from store.intake import directory_frames
from store.models import Grid
from store.reference import upsert


def _renamed(sessions, name: str) -> dict:
    with sessions() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        row = {c.name: getattr(grid, c.key) for c in Grid.__table__.columns}
    return {**row, "name": name}


def _grid_names(sessions) -> set[str]:
    with sessions() as s:
        return set(directory_frames(s)["grids"]["name"])


def test_a_rename_committed_after_another_session_cached_the_old_name_is_seen(sessions, registry):
    row = _renamed(sessions, "改名后的网格")
    old = _grid_names(sessions)
    with sessions() as writer, writer.begin():
        upsert(writer, Grid, [row])
        # another session of this process reads before the commit: the old name, cached again
        assert _grid_names(sessions) == old
    assert "改名后的网格" in _grid_names(sessions)


def test_a_rename_rolled_back_after_its_own_session_cached_it_is_forgotten(sessions, registry):
    row = _renamed(sessions, "未提交的网格名")
    old = _grid_names(sessions)
    with sessions() as writer:
        upsert(writer, Grid, [row])
        assert "未提交的网格名" in set(directory_frames(writer)["grids"]["name"])  # cached, uncommitted
        writer.rollback()
        assert set(directory_frames(writer)["grids"]["name"]) == old
    assert _grid_names(sessions) == old
