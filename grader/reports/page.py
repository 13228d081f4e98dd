"""The HTML pages of the reports (the class overview, each student's feedback): one style, and
student text always shown as text."""

from __future__ import annotations

import functools
import html

from markdown_it import MarkdownIt

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
def _markdown() -> MarkdownIt:
    """CommonMark with tables and without raw HTML: the feedback quotes what students' code printed
    and raised, which must reach the instructor's browser as text, never as markup or script."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_page(markdown: str, title: str) -> str:
    """A Markdown report (a student's feedback file), rendered (tables included) for the browser."""
    return page(title, _markdown().render(markdown))
