"""Alerts: a webhook notification block and the automations that fire it — a flow run failed or
crashed; a need escalated to the subdistrict desk (街道统筹); an urgent need waited past its
deadline, or its unit let it lapse. Configured by THREELISTS_ALERT_WEBHOOK (run by
scripts/serve.sh; idempotent). The need automations react to the events threelists emits for every
change of a need (lifecycle/changes.py), matching their resource labels."""

from __future__ import annotations

import os

from prefect.automations import Automation, EventTrigger, Posture, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock

NAME = "threelists-flow-run-failed"
NEED_TO_SUBDISTRICT = "threelists-need-to-subdistrict"
URGENT_OVERDUE = "threelists-urgent-need-overdue"
URGENT = ["2", "3"]  # 紧急, 特急 (lifecycle.vocabulary.URGENCY_ZH)


def _replace(automation: Automation) -> None:
    try:
        Automation.read(name=automation.name).delete()
    except (ValueError, LookupError, Exception):
        pass
    automation.create()


def main() -> None:
    url = os.environ.get("THREELISTS_ALERT_WEBHOOK")
    if not url:
        print("failure alerts: off (set THREELISTS_ALERT_WEBHOOK to a webhook URL to turn them on)")
        return
    block = CustomWebhookNotificationBlock(
        name="threelists-alert",
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
        allow_private_urls=True,
    )
    block_id = block.save("threelists-alert", overwrite=True)

    def notify(name: str, description: str, expect: set[str], match: dict, subject: str, body: str) -> None:
        _replace(
            Automation(
                name=name,
                description=description,
                trigger=EventTrigger(
                    expect=expect, match=match, posture=Posture.Reactive, threshold=1, within=0
                ),
                actions=[SendNotification(block_document_id=block_id, subject=subject, body=body)],
            )
        )

    notify(
        NAME,
        "流程运行失败或崩溃时通知值班人员",
        {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
        {"prefect.resource.id": "prefect.flow-run.*"},
        "threelists 流程运行失败：{{ flow.name }}",
        "流程 {{ flow.name }} 的运行 {{ flow_run.name }} 状态为 {{ flow_run.state.name }}：{{ flow_run.state.message }}",
    )
    notify(
        NEED_TO_SUBDISTRICT,
        "需求升级至街道统筹时通知街道值班人员",
        {"threelists.need.escalated"},
        {"prefect.resource.id": "threelists.need*", "threelists.level": "subdistrict"},
        "threelists 需求升级至街道统筹：{{ event.resource.name }}",
        "{{ event.resource.name }}（事项 {{ event.resource['threelists.item'] }}，"
        "原因 {{ event.resource['threelists.why'] }}）已升级至街道统筹，请协调资源。",
    )
    notify(
        URGENT_OVERDUE,
        "紧急需求超过期限仍未派出，或单位超时未办被收回时通知值班人员",
        {"threelists.need.escalated", "threelists.need.released"},
        {
            "prefect.resource.id": "threelists.need*",
            "threelists.urgency": URGENT,
            "threelists.why": ["waited_past_deadline", "unanswered", "not_completed"],
        },
        "threelists 紧急需求超时：{{ event.resource.name }}",
        "紧急需求 {{ event.resource.name }}（事项 {{ event.resource['threelists.item'] }}）"
        "超过期限：{{ event.resource['threelists.why'] }}。",
    )
    print(f"failure alerts: on -> {url}")
    print("need alerts: on (escalated to the subdistrict; urgent need past its deadline)")


if __name__ == "__main__":
    main()
