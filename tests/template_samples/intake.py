"""Sample contexts for the intake's answers (bot.intake): busy, failed, failed part-way."""

from types import SimpleNamespace as NS

from tests.template_samples import HOSTILE as H

SAMPLES = {
    "common/busy": {"command": "打卡"},
    "common/bad_args": {"typed": H, "form": H, "command": "打卡"},
    "common/ask_cancelled": {"h": NS(ask=NS(line="checkin/ask_close_line"),
                                     payload={"round_id": 3, "title": H, "missing": 2})},
    "common/nothing_pending": {},
    "ops/audit_broken": {"b": NS(position=5, row_id=5, reason="edited")},
    "common/failed": {"command": H},
    "common/failed_partial": {"command": H},
}
SAMPLES |= {
    "common/unknown_command": {"typed": H, "guess": "打卡"},
}
