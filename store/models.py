"""The district store: the three lists and everything that happens to them, as SQLAlchemy 2 models.

Hierarchy: subdistrict -> community -> grid -> household. Taxonomy: category -> subcategory
-> item. Units offer items (offers); residents have needs; a cycle pairs them (assignments)
and publishes the service list. Every change of a need's status is an appended NeedEvent.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- hierarchy -------------------------------------------------------------------------------


class Subdistrict(Base):
    __tablename__ = "subdistricts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Community(Base):
    __tablename__ = "communities"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subdistrict_id: Mapped[str] = mapped_column(ForeignKey("subdistricts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Grid(Base):
    __tablename__ = "grids"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # map coordinates of the grid centre, kilometres on a local plane (east, north)
    x_km: Mapped[float] = mapped_column(Float)
    y_km: Mapped[float] = mapped_column(Float)


class Household(Base):
    __tablename__ = "households"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), index=True)
    address: Mapped[str] = mapped_column(String(200))
    # personal data: never published unmasked
    head_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    survey_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    last_visited_at: Mapped[datetime | None] = mapped_column(DateTime)


# --- taxonomy --------------------------------------------------------------------------------


class Category(Base):
    __tablename__ = "categories"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(100))


class Subcategory(Base):
    __tablename__ = "subcategories"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(100))


class Item(Base):
    __tablename__ = "items"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    subcategory_code: Mapped[str] = mapped_column(ForeignKey("subcategories.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(50), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))


# --- resources -------------------------------------------------------------------------------


class Unit(Base):
    """A co-building unit (共建单位): department, school, hospital, utility, company, volunteers."""

    __tablename__ = "units"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    community_id: Mapped[str | None] = mapped_column(ForeignKey("communities.id"))
    x_km: Mapped[float] = mapped_column(Float)
    y_km: Mapped[float] = mapped_column(Float)
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    # mean satisfaction from follow-up surveys (1-5); None until the first answer
    rating: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))


class Offer(Base):
    """One resource (资源): a service item a unit gives, how often, where and when."""

    __tablename__ = "offers"
    # (unit, offer) is unique: an assignment's unit must be its offer's (migration 0011); the
    # index also finds a unit's offers
    __table_args__ = (Index("uq_offers_unit_id_id", "unit_id", "id", unique=True),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # an offer id stays its unit's: the intake asks about a file naming it for another unit
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    item_code: Mapped[str] = mapped_column(ForeignKey("items.code"), index=True)
    capacity_per_cycle: Mapped[int] = mapped_column(Integer)
    # service area: 'grid' | 'community' | 'subdistrict' and the id at that level
    area_level: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))


class ChangeMark(Base):
    """A table's change mark: triggers (migration 0008) give it a new random token in the same
    transaction as any insert, update or delete of the table, whoever makes it. A column snapshot
    of the table (``store.snapshots``) is used only while the token it was read under stands.
    Bookkeeping, not data: emptying the store keeps these rows."""

    __tablename__ = "change_marks"
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))


# --- needs -----------------------------------------------------------------------------------


class Need(Base):
    """One resident's request (需求 / 微心愿)."""

    __tablename__ = "needs"
    __table_args__ = (Index("ix_needs_status_item", "status", "item_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # first source it came from; later duplicates are linked in need_sources
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str] = mapped_column(String(100))
    household_id: Mapped[str | None] = mapped_column(ForeignKey("households.id"), index=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), index=True)
    item_code: Mapped[str] = mapped_column(ForeignKey("items.code"))
    description: Mapped[str] = mapped_column(Text, default="")
    # 1 normal, 2 urgent, 3 critical
    urgency: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    preferred_start: Mapped[date | None] = mapped_column(Date)
    preferred_end: Mapped[date | None] = mapped_column(Date)
    # open | dispatched | accepted | completed | closed | cancelled
    status: Mapped[str] = mapped_column(String(16))
    # 0 grid, 1 community, 2 subdistrict (小事不出网格、大事不出社区)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    cycles_unserved: Mapped[int] = mapped_column(Integer, default=0)
    # personal data: masked in everything published, released to the accepting unit only
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))


class NeedSource(Base):
    """Every source a need was reported through (survey, hotline, platform...), duplicates merged."""

    __tablename__ = "need_sources"
    __table_args__ = (UniqueConstraint("source", "source_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str] = mapped_column(String(100))
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime)


class NeedEvent(Base):
    """Append-only status log: who or what changed a need, when, from what to what."""

    __tablename__ = "need_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    cycle_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)


# --- cycles and the service list ---------------------------------------------------------------


class Cycle(Base):
    __tablename__ = "cycles"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. 2026-W47
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    objective: Mapped[float | None] = mapped_column(Float)
    # the lock holder while a match runs (one match per period at a time)
    lock_owner: Mapped[str | None] = mapped_column(String(100))
    # the holder renews its lease while it runs; a lock past its lease, or whose holder Prefect
    # reports crashed/failed/cancelled, is taken over by the next run (recorded here)
    lock_renewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    takeover_note: Mapped[str | None] = mapped_column(Text)


NOT_AGAIN_WHERE = "status IN ('declined', 'released')"


class Assignment(Base):
    """One pairing of a need with an offer in a cycle, with the cost that chose it."""

    __tablename__ = "assignments"
    # the offer and its unit as one key (migration 0011): the unit is the offer's, and PostgreSQL
    # checks one key per row where it checked two (97k assignments: 3.5-3.9 s -> 2.6-2.8 s)
    __table_args__ = (
        ForeignKeyConstraint(["offer_id", "unit_id"], ["offers.id", "offers.unit_id"]),
        # the pairs not offered again (lifecycle.states.NOT_AGAIN, in its order: a query names the
        # statuses as written here to use it), read by every cycle: a few percent of all
        # assignments, so the read stops growing with the whole history (migration 0012)
        Index(
            "ix_assignments_not_again",
            "need_id",
            "unit_id",
            sqlite_where=text(NOT_AGAIN_WHERE),
            postgresql_where=text(NOT_AGAIN_WHERE),
        ),
    )
    # no (cycle, need) uniqueness: a need declined in a cycle is re-matched in the same cycle
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    # no index: nothing finds assignments by offer (migration 0010)
    offer_id: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[str] = mapped_column(String(32), index=True)
    cost: Mapped[float] = mapped_column(Float)
    cost_distance: Mapped[float] = mapped_column(Float)
    cost_rating: Mapped[float] = mapped_column(Float)
    cost_scope: Mapped[float] = mapped_column(Float)
    distance_km: Mapped[float] = mapped_column(Float)
    # dispatched | accepted | declined | completed | released | closed
    status: Mapped[str] = mapped_column(String(16))
    dispatched_at: Mapped[datetime] = mapped_column(DateTime)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class UnitResponse(Base):
    """A unit's answer to a dispatched assignment (accept / decline / complete), applied once."""

    __tablename__ = "unit_responses"
    __table_args__ = (UniqueConstraint("response_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(String(100))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    unit_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    responded_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))


class UnservedNeed(Base):
    """Why a need stayed unserved in a cycle (no eligible offer, or capacity taken)."""

    __tablename__ = "unserved_needs"
    # the unique constraint's index also finds the rows of its first column (no index of its own)
    __table_args__ = (UniqueConstraint("cycle_id", "need_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    penalty: Mapped[float] = mapped_column(Float)
    escalated_to: Mapped[int | None] = mapped_column(Integer)
    escalated_from: Mapped[int | None] = mapped_column(Integer)
    escalated_why: Mapped[str | None] = mapped_column(String(32))


class ReviewRemoval(Base):
    """A pairing an operator removed from a draft service list: that unit is not offered that need
    again in that cycle (the need goes back to the pool)."""

    __tablename__ = "review_removals"
    # the unique constraint's index also finds the rows of its first column (no index of its own)
    __table_args__ = (UniqueConstraint("cycle_id", "need_id", "unit_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"))
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"))
    unit_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)


class Publication(Base):
    """One published version of a list (service list or survey call list)."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("kind", "cycle_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # service_list | followup_calls
    cycle_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    diff: Mapped[dict] = mapped_column(JSON, default=dict)


class PublishedRow(Base):
    """The service list as a table consumers query: the rows of every published version."""

    __tablename__ = "published_service_list"
    # the unique constraint's index also finds the rows of its first column (no index of its own)
    __table_args__ = (UniqueConstraint("publication_id", "need_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id"))
    cycle_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    assignment_id: Mapped[int | None] = mapped_column(Integer)
    need_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str] = mapped_column(String(200))
    offer_id: Mapped[str] = mapped_column(String(32))
    item_code: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(50))
    community_id: Mapped[str] = mapped_column(String(32))
    grid_id: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    resident_name_masked: Mapped[str] = mapped_column(String(50))
    resident_phone_masked: Mapped[str] = mapped_column(String(20))


class Delivery(Base):
    """Outcome of pushing a publication to a downstream HTTP endpoint."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime)


# --- surveys ---------------------------------------------------------------------------------


class Survey(Base):
    """A survey sent: the quarterly needs survey of a grid, or a follow-up of one assignment."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("kind", "ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # quarterly | followup
    # quarterly: '<quarter>:<grid_id>'; followup: '<assignment_id>'
    ref: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), index=True)
    household_id: Mapped[str | None] = mapped_column(ForeignKey("households.id"))
    due_on: Mapped[date] = mapped_column(Date)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    # pending | answered | no_answer
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("source_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)
    source_ref: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[datetime] = mapped_column(DateTime)
    done: Mapped[str | None] = mapped_column(String(8))  # yes | no | partly
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))


# --- intake ----------------------------------------------------------------------------------


class SourceFile(Base):
    """Every file read from the inbox, archived by checksum: the same bytes never load twice."""

    __tablename__ = "source_files"
    __table_args__ = (UniqueConstraint("sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    archive_path: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    # loaded | partial | rejected (unreadable, quarantined whole)
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    rows_merged: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class QuarantinedRow(Base):
    """An input row that broke a contract, kept whole with every reason, until a fix supersedes it."""

    __tablename__ = "quarantined_rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(32))
    row_number: Mapped[int | None] = mapped_column(Integer)
    source_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    raw: Mapped[dict] = mapped_column(JSON)
    reasons: Mapped[list] = mapped_column(JSON)
    # open | superseded
    status: Mapped[str] = mapped_column(String(16))
    superseded_by_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
