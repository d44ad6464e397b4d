"""mypy rejects handing a status to a reporter or sink of another kind (the collector's reporter once read
``risk_halt`` of a CollectorStatus and died; three ``type: ignore`` had hidden it) and accepts the right pairings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

HEADER = """
from bot_runtime.collector.status import CollectorStatus, KubeCollectorStatusSink
from bot_runtime.status import BotStatus, KubeStatusSink, LogStatusSink, StatusReporter

def use(bot_sink: KubeStatusSink, fc_sink: KubeCollectorStatusSink, fc: CollectorStatus, bot: BotStatus) -> None:
"""

MISUSES = {
    "a collector status to the bot's reporter": "    StatusReporter(bot_sink).publish(fc)",
    "a bot status to the collector's reporter": "    StatusReporter(fc_sink).publish(bot)",
    "the bot's sink for a collector reporter": "    r: StatusReporter[CollectorStatus] = StatusReporter(bot_sink)",
    "a bare dict, no ReportedStatus": '    StatusReporter(LogStatusSink()).publish({"phase": "Running"})',
}
RIGHT = """
    StatusReporter(bot_sink).publish(bot)
    StatusReporter(fc_sink).publish(fc)
    c: StatusReporter[CollectorStatus] = StatusReporter(LogStatusSink())
    c.publish(fc)
    b: StatusReporter = StatusReporter(LogStatusSink())  # bare: the bot's
    b.publish(bot)
    StatusReporter(LogStatusSink()).publish(fc)  # the log sink takes any status
"""


def mypy(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "snippet.py"
    source.write_text(HEADER + body + "\n")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(source)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_mypy_rejects_every_misuse_and_accepts_the_right_pairings(tmp_path: Path) -> None:
    body = "\n".join(MISUSES.values())
    out = mypy(tmp_path, body)
    first = HEADER.count("\n") + 1  # snippet lines are 1-based
    flagged = {int(line.split(":")[1]) for line in out.stdout.splitlines() if ": error:" in line}
    for offset, what in enumerate(MISUSES):
        assert first + offset in flagged, f"mypy let pass {what}:\n{out.stdout}"
    right = mypy(tmp_path, RIGHT)
    assert right.returncode == 0, right.stdout
