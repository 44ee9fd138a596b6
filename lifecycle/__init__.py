"""The life of a need, in one place: its statuses, the transitions between them, escalation and
deadlines, duplicate detection, and the Chinese words operators read for all of them.

Where is a need's status decided? Here: every change — intake, the match cycle, unit responses,
follow-up answers, overdue release, operators — is computed by :func:`lifecycle.states.transition`
or :func:`lifecycle.escalation.escalate`; ``store/`` only writes what these return.
Pure Python (no Prefect, no database).
"""
