"""Read a Quarto document (``.qmd``) into a Jupyter notebook, without Quarto.

Only the parts of the format the walt-bayes reports use are understood:
YAML front matter, ```` ```{python} ```` code cells with ``#| key: value``
options, and Markdown between them.  Parameters follow Quarto's convention
for Jupyter: the cell tagged ``parameters`` holds the defaults, and a cell
tagged ``injected-parameters`` with the given values is inserted right after
it.  Values are written as Python literals of plain types only, so nothing
passed as a parameter can run as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from walt_bayes.errors import WaltError

_OPEN = re.compile(r"^```\{python(?:[ ,]+([^}]*))?\}\s*$")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_OPTION = re.compile(r"^#\|\s?(.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QmdError(WaltError):
    """A report template (.qmd) is malformed, or a parameter is not a plain value."""


@dataclass
class Cell:
    """One cell of a ``.qmd``: Markdown text or Python code with its ``#|`` options."""

    kind: str  # "markdown" or "code"
    source: str
    line: int  # 1-based line of the cell's first line in the .qmd
    options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.options.get("label", ""))


@dataclass
class Qmd:
    """A parsed Quarto document."""

    path: Path
    front: dict
    cells: list[Cell]

    def option(self, key: str, default=None):
        """An execution option from the front matter (``execute: {echo: false}``)."""
        return (self.front.get("execute") or {}).get(key, default)

    def html_option(self, key: str, default=None):
        """An HTML format option from the front matter (``format: {html: {toc: true}}``)."""
        fmt = self.front.get("format") or {}
        html = fmt.get("html") if isinstance(fmt, dict) else None
        return (html or {}).get(key, default)


def read_qmd(path: str | Path) -> Qmd:
    """Parse a ``.qmd`` file.

    Raises
    ------
    QmdError
        Missing file, bad front matter, an unclosed code cell or bad cell options.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise QmdError(f"{path}: cannot read report template ({err.strerror})") from err
    return parse_qmd(text, path)


def parse_qmd(text: str, path: str | Path = "<qmd>") -> Qmd:
    """Parse the text of a ``.qmd`` (see :func:`read_qmd`)."""
    path = Path(path)
    lines = text.splitlines()
    front: dict = {}
    start = 0
    if lines and lines[0].strip() == "---":
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
        except StopIteration:
            raise QmdError(
                f"{path}: front matter opened on line 1 is never closed with '---'"
            ) from None
        try:
            front = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as err:
            raise QmdError(f"{path}: bad YAML front matter ({_one_line(err)})") from err
        if not isinstance(front, dict):
            raise QmdError(f"{path}: front matter must be a YAML mapping")
        start = end + 1
    cells: list[Cell] = []
    md: list[str] = []
    md_line = start + 1
    in_fence: str | None = None  # a fenced block inside Markdown (kept as Markdown)
    i = start
    while i < len(lines):
        line = lines[i]
        if in_fence is None and _OPEN.match(line):
            _flush_markdown(cells, md, md_line)
            code, opened = [], i
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                code.append(lines[i])
                i += 1
            if i == len(lines):
                raise QmdError(f"{path}: code cell opened on line {opened + 1} is never closed")
            cells.append(_code_cell(code, opened + 1, path))
            md, md_line = [], i + 2
        else:
            fence = _FENCE.match(line)
            if fence and in_fence is None:
                in_fence = fence.group(1)
            elif fence and in_fence is not None and line.strip() == in_fence:
                in_fence = None
            md.append(line)
        i += 1
    _flush_markdown(cells, md, md_line)
    return Qmd(path=path, front=front, cells=cells)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _flush_markdown(cells: list[Cell], md: list[str], line: int) -> None:
    text = "\n".join(md).strip("\n")
    if text.strip():
        cells.append(Cell("markdown", text, line))


def _code_cell(code: list[str], line: int, path: Path) -> Cell:
    opts = []
    k = 0
    while k < len(code) and (m := _OPTION.match(code[k])):
        opts.append(m.group(1))
        k += 1
    options = {}
    if opts:
        try:
            options = yaml.safe_load("\n".join(opts)) or {}
        except yaml.YAMLError as err:
            raise QmdError(
                f"{path}: bad '#|' options in the cell on line {line} ({_one_line(err)})"
            ) from err
        if not isinstance(options, dict):
            raise QmdError(
                f"{path}: '#|' options of the cell on line {line} must be 'key: value' lines"
            )
    return Cell("code", "\n".join(code[k:]).strip("\n"), line, options)


# ------------------------------------------------------------------ parameters
def _literal(value, name: str) -> str:
    """A Python literal for a plain parameter value (never code)."""
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        raise QmdError(f"report parameter '{name}': {value} is not a finite number")
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v, name) for v in value) + "]"
    raise QmdError(f"report parameter '{name}': {type(value).__name__} is not a plain value")


def parameter_source(params: dict) -> str:
    """The source of the injected-parameters cell."""
    out = ["# Injected parameters"]
    for name, value in params.items():
        if not _NAME.match(str(name)):
            raise QmdError(f"report parameter name '{name}' is not an identifier")
        out.append(f"{name} = {_literal(value, name)}")
    return "\n".join(out)


def default_parameters(qmd: Qmd) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (its top-level ``name = …`` lines)."""
    for cell in qmd.cells:
        if cell.kind == "code" and "parameters" in (cell.options.get("tags") or []):
            return [
                m.group(1)
                for m in re.finditer(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=", cell.source, re.M)
            ]
    return []


def to_notebook(qmd: Qmd, params: dict | None = None) -> nbformat.NotebookNode:
    """The notebook for ``qmd`` with ``params`` injected after the ``parameters`` cell.

    Each cell's metadata records its ``#|`` options and the line it came from
    (``walt_bayes: {line, options}``) so errors and the HTML export can use them.

    Raises
    ------
    QmdError
        A parameter the template does not declare, or a value that is not plain.
    """
    params = dict(params or {})
    declared = default_parameters(qmd)
    unknown = [p for p in params if p not in declared]
    if unknown:
        raise QmdError(
            f"{qmd.path.name}: unknown report parameter '{unknown[0]}' "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    injected = False
    for cell in qmd.cells:
        meta = {"walt_bayes": {"line": cell.line, "options": cell.options}}
        if cell.kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=meta))
            continue
        tags = list(cell.options.get("tags") or [])
        nb_cell = nbformat.v4.new_code_cell(cell.source, metadata={**meta, "tags": tags})
        nb.cells.append(nb_cell)
        if "parameters" in tags and params and not injected:
            inj = nbformat.v4.new_code_cell(
                parameter_source(params),
                metadata={
                    "tags": ["injected-parameters"],
                    "walt_bayes": {"line": cell.line, "options": {"label": "injected-parameters"}},
                },
            )
            nb.cells.append(inj)
            injected = True
    return nb
