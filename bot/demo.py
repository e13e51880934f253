"""A demo street for a fresh database, so `make run` is useful at once."""

from __future__ import annotations

from sqlmodel import func, select

from storage.db import Database
from storage.importer import import_rows, parse_csv_text, validate
from storage.models import Community, RoleGrant
from storage.repo import ADMIN, audit

DEMO_UNITS = """社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号
幸福社区,第一网格,1栋,1单元,18,王建国,,李秀英,
幸福社区,第一网格,1栋,2单元,18,王建国,,赵志强,
幸福社区,第一网格,2栋,1单元,24,陈伟,,孙丽,
幸福社区,第一网格,2栋,2单元,24,陈伟,,周敏,
幸福社区,第二网格,3栋,1单元,12,刘洋,,吴静,
幸福社区,第二网格,3栋,2单元,12,刘洋,,郑磊,
幸福社区,第二网格,4栋,1单元,30,黄海,,何芳,
"""
DEMO_STAFF = """姓名,账号,工作组,管理员
演示管理员,console:user,综合协调组;数据统计排查组,是
"""


async def seed_demo_if_empty(db: Database) -> bool:
    """Load the demo street when there is no community at all. Returns True if seeded."""
    async with db.write() as s:
        count = (await s.exec(select(func.count()).select_from(Community))).one()
        if count:
            return False
        for text in (DEMO_UNITS, DEMO_STAFF):
            kind, rows = validate(parse_csv_text(text))
            await import_rows(s, kind, rows, actor="demo")
        await audit(s, "demo", "seed_demo", "demo street loaded")
        admins = (await s.exec(select(func.count()).where(RoleGrant.role == ADMIN))).one()
        assert admins >= 1
    return True
