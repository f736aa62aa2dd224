"""Export an executed report notebook to one self-contained HTML file (no Quarto needed).

The page has no script and no external resource: styles are inline, figures
are ``data:`` URIs, so it opens offline in any browser and can be mailed as
one file.  Markdown cells are rendered with mistune (raw HTML in them is
escaped); code outputs are embedded by MIME type: HTML (built by
:mod:`walt_bayes.report.show`, which escapes data text), PNG/JPEG/SVG images,
Markdown and plain text (escaped).  Code is shown folded under each cell when
the front matter asks for ``echo: true`` (``code-fold: true``).
"""

from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime

import mistune
import nbformat

from walt_bayes.report.qmd import Qmd

_MIME_ORDER = (
    "text/html",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "text/markdown",
    "text/plain",
)
_HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}

CSS = """
:root { --fg:#1d2329; --muted:#5f6b76; --line:#d8dee4; --accent:#1f5f99; --bg-soft:#f5f7f9; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:#fff;
  font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 64px; }
header.wb-title { border-bottom: 2px solid var(--accent); margin-bottom: 18px; }
header.wb-title h1 { margin: 0 0 4px; font-size: 28px; }
header.wb-title p { margin: 2px 0 10px; color: var(--muted); }
h2 { margin-top: 40px; padding-bottom: 4px; border-bottom: 1px solid var(--line); font-size: 22px; }
h3 { margin-top: 26px; font-size: 17px; }
a { color: var(--accent); }
nav.wb-toc { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 18px; margin: 12px 0 20px; }
nav.wb-toc h2 { border: 0; margin: 6px 0; font-size: 16px; }
nav.wb-toc ul { margin: 4px 0 8px; padding-left: 20px; }
nav.wb-toc li.l3 { margin-left: 18px; font-size: 14px; }
figure { margin: 14px 0 22px; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eef1f4; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
div.wb-scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid #aab4be; background: var(--bg-soft); }
table.wb-table td:first-child, table.wb-table td.nowrap { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 4px; }
table.wb-facts th { font-weight: 600; color: var(--muted); background: none; white-space: nowrap; }
.v-supported { background: #dff3e3; color: #14532d; font-weight: 600; }
.v-contradicted { background: #fde2e1; color: #7f1d1d; font-weight: 600; }
.v-null { background: #fff4cc; color: #6b4f00; font-weight: 600; }
.v-inconclusive { background: #eef1f4; color: #374151; }
.v-untestable { color: #6b7280; font-style: italic; }
.v-supported, .v-contradicted, .v-null, .v-inconclusive, .v-untestable { white-space: nowrap; }
.wb-callout { border-left: 4px solid #d97706; background: #fff7e6; padding: 8px 12px;
  margin: 12px 0; }
.wb-callout.wb-ok { border-color: #15803d; background: #ecfdf3; }
.wb-callout.wb-note { border-color: var(--accent); background: #eef5fc; }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px;
  padding: 8px 10px;
  overflow-x: auto; font-size: 12.5px; line-height: 1.4; }
details.wb-code { margin: 6px 0; }
details.wb-code summary { cursor: pointer; color: var(--muted); font-size: 13px; }
p.wb-footer { margin-top: 48px; color: var(--muted); font-size: 12.5px;
  border-top: 1px solid var(--line);
  padding-top: 8px; }
"""


def _slug(text: str, seen: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", re.sub(r"<[^>]+>", "", text).lower()).strip("-") or "section"
    slug, n = base, 1
    while slug in seen:
        n += 1
        slug = f"{base}-{n}"
    seen.add(slug)
    return slug


class _Renderer(mistune.HTMLRenderer):
    """mistune's renderer with ids on headings, collected for the table of contents."""

    def __init__(self, toc: list, seen: set[str]):
        super().__init__(escape=True)
        self.toc = toc
        self.seen = seen

    def heading(self, text: str, level: int, **attrs) -> str:
        slug = _slug(text, self.seen)
        self.toc.append((level, slug, text))
        return f'<h{level} id="{slug}">{text}</h{level}>\n'


def _markdown(source: str, toc: list, seen: set[str]) -> str:
    md = mistune.create_markdown(renderer=_Renderer(toc, seen), plugins=["table", "strikethrough"])
    return md(source)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(output, cell_opts: dict, show_warnings: bool, toc: list, seen: set[str]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") == "stderr" and not show_warnings:
            return ""
        return f'<pre class="wb-stream">{html.escape(_text(output.get("text", "")))}</pre>'
    if kind == "error":
        err = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return f'<pre class="wb-error">{html.escape(err)}</pre>'
    data = output.get("data", {})
    mime = next((m for m in _MIME_ORDER if m in data), None)
    if mime is None:
        return ""
    value = data[mime]
    if mime == "text/html":
        return _text(value)
    if mime.startswith("image/"):
        meta = output.get("metadata", {}) or {}
        alt = (
            (meta.get(mime) or {}).get("alt")
            or meta.get("alt")
            or cell_opts.get("fig-alt")
            or cell_opts.get("fig-cap")
            or cell_opts.get("label", "figure")
        )
        if mime == "image/svg+xml":
            payload = base64.b64encode(_text(value).encode("utf-8")).decode("ascii")
        else:
            payload = "".join(_text(value).split())
        cap = cell_opts.get("fig-cap")
        caption = f"<figcaption>{html.escape(str(cap))}</figcaption>" if cap else ""
        return (
            f'<figure><img src="data:{mime};base64,{payload}" '
            f'alt="{html.escape(str(alt), quote=True)}">'
            f"{caption}</figure>"
        )
    if mime == "text/markdown":
        return _markdown(_text(value), toc, seen)
    if kind == "execute_result":
        return f'<pre class="wb-result">{html.escape(_text(value))}</pre>'
    return f'<pre class="wb-stream">{html.escape(_text(value))}</pre>'


def notebook_to_html(nb: nbformat.NotebookNode, qmd: Qmd, footer: str = "") -> str:
    """The self-contained HTML page of an executed report notebook.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Executed notebook from :func:`walt_bayes.report.qmd.to_notebook`.
    qmd : Qmd
        The parsed template (title, options).
    footer : str
        Plain text for the page footer (escaped).
    """
    toc: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    echo = bool(qmd.option("echo", True))
    show_warnings = bool(qmd.option("warning", True))
    fold = bool(qmd.html_option("code-fold", False))
    body: list[str] = []
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        opts = (meta.get("walt_bayes") or {}).get("options") or {}
        if cell.cell_type == "markdown":
            body.append(_markdown(cell.source, toc, seen))
            continue
        if cell.cell_type != "code" or opts.get("include") is False:
            continue
        if _HIDDEN_TAGS.intersection(meta.get("tags") or []):
            continue
        if opts.get("echo", echo) and cell.source.strip():
            src = f"<pre><code>{html.escape(cell.source)}</code></pre>"
            body.append(
                f'<details class="wb-code"><summary>Code</summary>{src}</details>' if fold else src
            )
        if opts.get("output", True) is False:
            continue
        warn = opts.get("warning", show_warnings)
        for output in cell.get("outputs", []):
            body.append(_output_html(output, opts, warn, toc, seen))
    title = html.escape(str(qmd.front.get("title", "walt-bayes report")))
    subtitle = qmd.front.get("subtitle")
    sub = f"<p>{html.escape(str(subtitle))}</p>" if subtitle else ""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = ""
    depth = int(qmd.html_option("toc-depth", 3))
    if qmd.html_option("toc", False) and toc:
        items = "".join(
            f'<li class="l{lvl}"><a href="#{slug}">{text}</a></li>'
            for lvl, slug, text in toc
            if lvl <= depth
        )
        nav = f'<nav class="wb-toc"><h2>Contents</h2><ul>{items}</ul></nav>'
    foot = f'<p class="wb-footer">{html.escape(footer)}</p>' if footer else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="walt-bayes report ({stamp})">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header class="wb-title"><h1>{title}</h1>{sub}<p>Rendered {stamp}</p></header>\n'
        f"{nav}\n" + "\n".join(b for b in body if b) + f"\n{foot}\n</main>\n</body>\n</html>\n"
    )
