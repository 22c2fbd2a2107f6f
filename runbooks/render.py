"""Markdown to HTML for the runbooks' own subset: headings, paragraphs, lists, tables, fenced code,
inline code, bold and links. Small on purpose (no new dependency); everything is HTML-escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITEM = re.compile(r"^(\s*)([-*]|\d+\.)\s+(.*)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def inline(text: str, link: Callable[[str], str]) -> str:
    """Escape, then render code spans (verbatim), links and bold."""
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(f"<code>{html.escape(match.group(1))}</code>")
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE.sub(keep, text)
    text = html.escape(text)
    text = _LINK.sub(lambda m: f'<a href="{html.escape(link(html.unescape(m.group(2))))}">{m.group(1)}</a>', text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def to_html(markdown: str, link: Callable[[str], str] = lambda href: href, heading_ids: bool = True) -> str:
    """The HTML body of one Markdown document; ``link`` rewrites link targets (e.g. .md -> #anchor)."""
    lines = markdown.splitlines()
    out: list[str] = []
    paragraph: list[str] = []
    list_kind = ""

    def flush() -> None:
        nonlocal list_kind
        if paragraph:
            out.append(f"<p>{inline(' '.join(paragraph), link)}</p>")
            paragraph.clear()
        if list_kind:
            out.append(f"</li></{list_kind}>")
            list_kind = ""

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            language = stripped[3:].strip()
            indent = len(line) - len(line.lstrip())
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            css = f' class="language-{html.escape(language)}"' if language else ""
            out.append(f"<pre><code{css}>{html.escape(chr(10).join(body))}</code></pre>")
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            flush()
            level, text = len(heading.group(1)), heading.group(2).strip()
            anchor = f' id="{re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")}"' if heading_ids else ""
            out.append(f"<h{level}{anchor}>{inline(text, link)}</h{level}>")
        elif stripped.startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1].strip()):
            flush()
            head = "".join(f"<th>{inline(c, link)}</th>" for c in _cells(line))
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append("<tr>" + "".join(f"<td>{inline(c, link)}</td>" for c in _cells(lines[i])) + "</tr>")
                i += 1
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            continue
        elif _ITEM.match(line):
            match = _ITEM.match(line)
            assert match is not None
            kind = "ol" if match.group(2)[0].isdigit() else "ul"
            if paragraph:
                out.append(f"<p>{inline(' '.join(paragraph), link)}</p>")
                paragraph.clear()
            if list_kind != kind:
                flush()
                out.append(f"<{kind}><li>")
                list_kind = kind
            else:
                out.append("</li><li>")
            out.append(inline(match.group(3), link))
        elif not stripped:
            flush()
        elif list_kind and line.startswith((" ", "\t")):
            out.append(" " + inline(stripped, link))  # continuation of a list item
        else:
            paragraph.append(stripped)
        i += 1
    flush()
    return "\n".join(out)
