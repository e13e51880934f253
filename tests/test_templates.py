"""Every template renders hostile values as inert text (DESIGN.md §5 Jinja2, nonebot2#781)."""

from __future__ import annotations

import jinja2
import pytest
from jinja2 import meta

from messages.mask import mask_id, mask_name, mask_phone, scrub
from messages.render import Renderer
from tests.template_samples import HOSTILE, all_samples


class Hostile(str):
    """The hostile string, also answering any attribute with itself (`bc.id`)."""

    def __getattr__(self, name: str) -> Hostile:
        if name.startswith("__"):
            raise AttributeError(name)
        return Hostile(HOSTILE)


SAMPLES = all_samples()


def template_names() -> list[str]:
    return Renderer().names()


def context_for(renderer: Renderer, name: str) -> dict:
    source = renderer.env.loader.get_source(renderer.env, f"{name}.j2")[0]
    variables = meta.find_undeclared_variables(renderer.env.parse(source))
    ctx = {v: Hostile(HOSTILE) for v in variables}
    ctx.update(SAMPLES.get(name, {}))
    return ctx


def test_there_are_templates() -> None:
    names = template_names()
    assert "common/refused" in names and "roster/help" in names
    assert len(names) >= 20


@pytest.mark.parametrize("name", template_names())
def test_template_renders_hostile_values_inert(name: str) -> None:
    renderer = Renderer()
    ctx = context_for(renderer, name)
    out = renderer.render(name, **ctx)
    assert out.strip(), f"{name} rendered empty"
    assert "<class" not in out and "__mro__" not in out.replace(HOSTILE, "")
    if any(v == HOSTILE for v in ctx.values()) or name in SAMPLES:
        # Whatever the template printed of the value, it printed verbatim.
        if "[CQ:" in out:
            assert HOSTILE in out


def test_sandbox_blocks_template_code_in_templates() -> None:
    env = Renderer().env
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


def test_masks() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_id("110101199001011234") == "110***********1234"
    assert scrub("电话13812341234，身份证110101199001011234") == (
        "电话138****1234，身份证110***********1234"
    )
