"""Sample contexts for the intake's answers (bot.intake): busy, failed, failed part-way."""

from tests.template_samples import HOSTILE as H

SAMPLES = {
    "common/busy": {"command": "打卡"},
    "common/failed": {"command": H},
    "common/failed_partial": {"command": H},
}
SAMPLES |= {
    "common/unknown_command": {"typed": H, "guess": "打卡"},
}
