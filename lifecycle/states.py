"""Statuses of a need and of an assignment, and the one function that moves them.

Every change of a need's status anywhere goes through :func:`transition`, which returns what to
write (the need's and the assignment's new status and the event to emit) or raises
:class:`IllegalTransition` with a reason an operator can read (quarantined when it came from a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lifecycle.vocabulary import ACTION_ZH, ASSIGNMENT_STATUS_ZH, NEED_STATUS_ZH


class NeedStatus(StrEnum):
    OPEN = "open"  # in the pool, waiting for a pairing
    DISPATCHED = "dispatched"  # on this cycle's service list, waiting for the unit
    ACCEPTED = "accepted"  # the unit took it
    COMPLETED = "completed"  # the unit reports it done; follow-up pending
    CLOSED = "closed"  # follow-up confirmed, or no answer after reminders (销单)

    @property
    def zh(self) -> str:
        return NEED_STATUS_ZH[self.value]


class AssignmentStatus(StrEnum):
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    RELEASED = "released"  # overdue: taken back, the need returns to the pool
    CLOSED = "closed"
    REOPENED = "reopened"  # follow-up said "not done": the need returns to the pool

    @property
    def zh(self) -> str:
        return ASSIGNMENT_STATUS_ZH[self.value]


class Action(StrEnum):
    REPORT = "report"  # intake: a new need
    DISPATCH = "dispatch"  # the match cycle pairs an open need with an offer
    REDISPATCH = "redispatch"  # a re-run of the same cycle moves it to another offer
    UNDISPATCH = "undispatch"  # a re-run of the same cycle leaves it unpaired
    ACCEPT = "accept"  # unit
    DECLINE = "decline"  # unit (before or after accepting)
    COMPLETE = "complete"  # unit
    RELEASE = "release"  # overdue: no answer, or accepted but not done in time
    CLOSE = "close"  # follow-up "done", or no answer after the reminders; or an operator
    REOPEN = "reopen"  # follow-up "not done"
    ESCALATE = "escalate"  # moves to the next desk (网格 -> 社区 -> 街道); the status stays open

    @property
    def zh(self) -> str:
        return ACTION_ZH[self.value]


N, A = NeedStatus, AssignmentStatus
# action -> {(need status, assignment status) before: (need status, assignment status) after}
# An assignment status of None: the action creates no assignment row, or removes it (undispatch).
TRANSITIONS: dict[Action, dict[tuple[N | None, A | None], tuple[N, A | None]]] = {
    Action.REPORT: {(None, None): (N.OPEN, None)},
    Action.DISPATCH: {(N.OPEN, None): (N.DISPATCHED, A.DISPATCHED)},
    Action.REDISPATCH: {(N.DISPATCHED, A.DISPATCHED): (N.DISPATCHED, None)},
    Action.UNDISPATCH: {(N.DISPATCHED, A.DISPATCHED): (N.OPEN, None)},
    Action.ACCEPT: {(N.DISPATCHED, A.DISPATCHED): (N.ACCEPTED, A.ACCEPTED)},
    Action.DECLINE: {
        (N.DISPATCHED, A.DISPATCHED): (N.OPEN, A.DECLINED),
        (N.ACCEPTED, A.ACCEPTED): (N.OPEN, A.DECLINED),
    },
    Action.COMPLETE: {(N.ACCEPTED, A.ACCEPTED): (N.COMPLETED, A.COMPLETED)},
    Action.RELEASE: {
        (N.DISPATCHED, A.DISPATCHED): (N.OPEN, A.RELEASED),
        (N.ACCEPTED, A.ACCEPTED): (N.OPEN, A.RELEASED),
    },
    Action.CLOSE: {(N.COMPLETED, A.COMPLETED): (N.CLOSED, A.CLOSED)},
    Action.REOPEN: {
        (N.COMPLETED, A.COMPLETED): (N.OPEN, A.REOPENED),
        (N.CLOSED, A.CLOSED): (N.OPEN, A.REOPENED),
    },
    Action.ESCALATE: {(N.OPEN, None): (N.OPEN, None)},
}
# an assignment in one of these holds the need: at most one per need at a time
ACTIVE_ASSIGNMENT = (A.DISPATCHED, A.ACCEPTED)
# capacity of an offer consumed for good in its cycle
CAPACITY_USED = (A.ACCEPTED, A.COMPLETED, A.CLOSED)
# what a published service list shows (the unit's work for the cycle)
LISTED = (A.DISPATCHED, A.ACCEPTED, A.COMPLETED, A.CLOSED)
# a unit that declined a need, or let it lapse, is not offered it again
NOT_AGAIN = (A.DECLINED, A.RELEASED)
# a need the pool and duplicate detection still consider live (not yet done)
LIVE_NEED = (N.OPEN, N.DISPATCHED, N.ACCEPTED)
# a new report of the same household and item merges into a need in one of these (a need done
# but not yet confirmed by its follow-up still counts: the resident may be asking about it)
DEDUPE_AGAINST = (*LIVE_NEED, N.COMPLETED)
# served: the resident got the service
DONE_NEED = (N.COMPLETED, N.CLOSED)
DONE_ASSIGNMENT = (A.COMPLETED, A.CLOSED)
# the resident's full contact goes only to a unit whose assignment is in one of these
CONTACT_RELEASED = (A.ACCEPTED, A.COMPLETED)


class CycleStatus(StrEnum):
    """A match cycle's row: its lock is held while ``running``."""

    RUNNING = "running"
    MATCHED = "matched"
    FAILED = "failed"
    UNAPPROVED = "unapproved"  # its draft list was not approved (rejected, or the wait timed out)


class SurveyStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # no answer after the reminders


class QuarantineStatus(StrEnum):
    OPEN = "open"  # waiting for a person
    SUPERSEDED = "superseded"  # a later file corrected it


class IllegalTransition(ValueError):
    """The action is not allowed from the current statuses; ``reason`` says why, in Chinese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Transition:
    action: Action
    need_from: NeedStatus | None
    need_to: NeedStatus
    assignment_from: AssignmentStatus | None
    assignment_to: AssignmentStatus | None

    @property
    def event(self) -> str:
        """The Prefect event name, e.g. ``threelists.need.dispatched``."""
        return f"threelists.need.{EVENT_VERB[self.action]}"

    @property
    def changes_need(self) -> bool:
        return self.need_from != self.need_to


EVENT_VERB = {
    Action.REPORT: "reported",
    Action.DISPATCH: "dispatched",
    Action.REDISPATCH: "redispatched",
    Action.UNDISPATCH: "undispatched",
    Action.ACCEPT: "accepted",
    Action.DECLINE: "declined",
    Action.COMPLETE: "completed",
    Action.RELEASE: "released",
    Action.CLOSE: "closed",
    Action.REOPEN: "reopened",
    Action.ESCALATE: "escalated",
}


def _as(enum: type, value: object) -> object:
    return None if value is None else enum(value)


def transition(
    action: Action | str, need_status: str | None, assignment_status: str | None = None
) -> Transition:
    """What ``action`` does from the need's and the assignment's current statuses.

    Raises :class:`IllegalTransition` (reason in Chinese) when the action is not allowed.
    """
    act = Action(action)
    need = _as(NeedStatus, need_status)
    asg = _as(AssignmentStatus, assignment_status)
    allowed = TRANSITIONS[act]
    if (need, asg) in allowed:
        need_to, asg_to = allowed[(need, asg)]
        return Transition(act, need, need_to, asg, asg_to)
    raise IllegalTransition(_why_not(act, need, asg))


def _why_not(act: Action, need: NeedStatus | None, asg: AssignmentStatus | None) -> str:
    if asg is not None:
        if act is Action.COMPLETE and asg is A.DISPATCHED:
            return f"派单尚未接单，不能{act.zh}（请先接单）"
        if asg in (A.DECLINED, A.RELEASED, A.CLOSED, A.COMPLETED, A.REOPENED) and act in (
            Action.ACCEPT,
            Action.DECLINE,
        ):
            return f"派单已是“{asg.zh}”，不能再{act.zh}"
        state = f"派单当前为“{asg.zh}”"
        if need is not None and need.zh != asg.zh:
            state += f"、需求为“{need.zh}”"
        return f"{state}，不能{act.zh}"
    if need is None:
        return f"需求不存在，不能{act.zh}"
    return f"需求当前为“{need.zh}”，不能{act.zh}"
