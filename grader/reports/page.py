"""Student text in the reports, always shown as text: escaped for Markdown (`text`), and the HTML
pages (the class overview, each student's feedback) with one style, rendered without raw HTML."""

from __future__ import annotations

import functools
import html
import re
from typing import Any

# Every character Markdown may read as syntax, and an _ unless it stands between two letters or digits
# (dL_dW is no emphasis, but the runs of ___x___ or __init__ are). & too, or an entity would be decoded.
_MARKDOWN = re.compile(r"([\\`*\[\]<>|#!~{}&]|(?<![^\W_])_|_(?![^\W_]))")


def text(value: str) -> str:
    """Text from a notebook (or from which it is made) as Markdown that shows it as it is: every
    character that Markdown would read as syntax escaped, on one line (it sits in a table or a list)."""
    return _MARKDOWN.sub(r"\\\1", " ".join(value.split("\n")))


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { border: 1px solid #ccc; padding: .3rem .6rem; }
th { background: #f3f3f3; text-align: left; } .bad { color: #b00; } figure { margin: 1rem 0; }
code, pre { background: #f6f6f6; } pre { padding: .5rem; overflow-x: auto; }
"""


def page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


@functools.cache
def _markdown() -> Any:
    """CommonMark with tables and without raw HTML: the feedback quotes what students' code printed
    and raised, which must reach the instructor's browser as text, never as markup or script.
    (Imported here: the student kit escapes text for Markdown but never renders it.)"""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_page(markdown: str, title: str) -> str:
    """A Markdown report (a student's feedback file), rendered (tables included) for the browser."""
    return page(title, _markdown().render(markdown))
