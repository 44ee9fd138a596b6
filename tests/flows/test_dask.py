"""Scale-out: the match cycle on a local Dask cluster (prefect-dask) gives the serial service list."""

from __future__ import annotations

import shutil

import pandas as pd
from prefect_dask import DaskTaskRunner
from sqlalchemy import select, update

from flows.collect import collect_inbox
from flows.match_cycle import match_cycle
from matching.plan import plan_cycle
from service import cycle as service_cycle
from store.cycle import period_of
from store.models import Assignment, Need
from tests.conftest import SAMPLE_DAY


def test_match_cycle_on_dask_equals_serial(prefect_harness, env, sessions, registry):
    shutil.copytree(registry / "inbox", env.inbox_dir, dirs_exist_ok=True)
    collect_inbox(today=SAMPLE_DAY)  # the sample's week: an urgent run in a later week would supersede it
    with (
        sessions() as s,
        s.begin(),
    ):  # escalated needs see community- and subdistrict-wide offers: a bigger problem
        s.execute(update(Need).values(escalation_level=2))
    cycle_id, period = "2026-W47", period_of(SAMPLE_DAY)
    with sessions() as s:
        needs = service_cycle.read_pool(s, cycle_id)
        offers = service_cycle.read_offers(s, cycle_id)
        declined = service_cycle.read_declined(s)
    serial = plan_cycle(needs, offers, declined, period, workers=1)
    assert len(serial.chosen) > 10 and serial.solution.stats["blocks"] > 4

    # the dashboard on any free port: another run's cluster (CI on two databases at once) may hold 8787
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}
    )
    summary = match_cycle.with_options(task_runner=runner)(cycle_day=SAMPLE_DAY, block_batches=4)
    with sessions() as s:
        got = pd.DataFrame(
            s.execute(
                select(Assignment.need_id, Assignment.offer_id, Assignment.cost)
                .where(Assignment.cycle_id == cycle_id)
                .order_by(Assignment.need_id)
            ).all(),
            columns=["need_id", "offer_id", "cost"],
        )
    want = serial.chosen[["need_id", "offer_id", "cost"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert summary["served"] == len(want)
    assert summary["objective"] == round(serial.solution.objective, 2)
