"""Failure alerts: a webhook notification block and an automation that fires it when a flow run
fails or crashes. Configured by THREELISTS_ALERT_WEBHOOK (run by scripts/serve.sh; idempotent)."""

from __future__ import annotations

import os

from prefect.automations import Automation, EventTrigger, Posture, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock

NAME = "threelists-flow-run-failed"


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
    try:
        Automation.read(name=NAME).delete()
    except (ValueError, LookupError, Exception):
        pass
    Automation(
        name=NAME,
        description="流程运行失败或崩溃时通知值班人员",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="threelists 流程运行失败：{{ flow.name }}",
                body="流程 {{ flow.name }} 的运行 {{ flow_run.name }} 状态为 {{ flow_run.state.name }}："
                "{{ flow_run.state.message }}",
            )
        ],
    ).create()
    print(f"failure alerts: on -> {url}")


if __name__ == "__main__":
    main()
