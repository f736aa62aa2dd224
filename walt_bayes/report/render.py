"""Render the Quarto reports of saved fits to one self-contained HTML file.

One run directory gives ``reports/fit_report.qmd``; several give
``reports/comparison_report.qmd``.  With the ``quarto`` binary on PATH the
document is rendered by ``quarto render`` (embedded resources); otherwise its
Python cells run through a Jupyter kernel of this interpreter (nbclient) and
:mod:`walt_bayes.report.export` writes the HTML.  An output named ``*.ipynb``
gets the executed notebook itself instead of the HTML (always through the Jupyter
kernel: Quarto's render keeps no notebook).  Reports only read the fit
files; nothing is refitted.  The HTML is written atomically: a failing cell
leaves no file behind and raises :class:`ReportError` naming the cell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from walt_bayes.atomic import atomic_path
from walt_bayes.errors import FitFileError, WaltError
from walt_bayes.paths import bundled_path, cache_root, pytensor_cache_flags
from walt_bayes.report.export import notebook_to_html
from walt_bayes.report.qmd import Qmd, read_qmd, to_notebook

FIT_TEMPLATE = "fit_report.qmd"
COMPARISON_TEMPLATE = "comparison_report.qmd"
KERNEL_NAME = "walt-bayes-report"
#: Seconds one cell may run before the render is abandoned.
CELL_TIMEOUT = 600
ENGINES = ("auto", "jupyter", "quarto")
#: Output suffixes: the HTML page, or the executed notebook.
HTML_SUFFIXES = (".html", ".htm")
NOTEBOOK_SUFFIX = ".ipynb"


class ReportError(WaltError):
    """A report cannot be rendered (bad run directory, failing cell, Quarto error)."""


# ------------------------------------------------------------------ inputs
def template_path(name: str) -> Path:
    """Path of a bundled report template (``reports/<name>``)."""
    path = bundled_path("reports", name)
    if not path.exists():
        raise ReportError(f"report template {name} is missing from this installation ({path})")
    return path


def check_run_dir(run_dir: str | Path) -> Path:
    """The absolute run directory of ``run_dir`` (a run directory or its ``fit.nc``), checked.

    Raises
    ------
    FitFileError
        No ``fit.nc`` there, or a file that is not a walt-bayes fit.
    """
    path = Path(run_dir).expanduser()
    fit = path if path.is_file() else path / "fit.nc"
    if not fit.exists():
        raise FitFileError(f"{fit}: no such fit file")
    import h5py  # lazy: h5py (a second to import) only reads the format tag here

    # lazy: walt_bayes.fit.fitfile imports xarray and PyMC; the report's kernel reads the fits
    from walt_bayes.fit.fitfile import FORMAT

    try:
        with h5py.File(fit, "r") as fh:
            fmt = fh.attrs.get("format")
    except OSError as err:
        raise FitFileError(f"{fit}: cannot read fit file ({err})") from err
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        raise FitFileError(
            f"{fit}: not a walt-bayes fit file (root attr 'format' is not '{FORMAT}')"
        )
    return fit.parent.resolve() if path.is_file() else path.resolve()


def default_output(run_dirs: list[Path]) -> Path:
    """``<run>/report.html`` for one run; ``<parent of the first>/comparison_report.html`` else."""
    if len(run_dirs) == 1:
        return run_dirs[0] / "report.html"
    return run_dirs[0].parent / "comparison_report.html"


# ------------------------------------------------------------------ entry point
def render_report(
    run_dirs: Iterable[str | Path],
    out: str | Path | None = None,
    *,
    engine: str = "auto",
    progress: bool = True,
    timeout: int = CELL_TIMEOUT,
    params: dict | None = None,
) -> Path:
    """Render the fit report (one run) or the comparison report (several) to HTML.

    Parameters
    ----------
    run_dirs : iterable of path
        Run directories (or their ``fit.nc``) written by ``walt-bayes fit``.
    out : path, optional
        The HTML file (default :func:`default_output`), or a ``.ipynb`` file for the
        executed notebook.
    engine : {"auto", "jupyter", "quarto"}
        ``auto`` uses ``quarto`` when it is on PATH, else a Jupyter kernel.
    progress : bool
        Show progress on stderr.
    timeout : int
        Seconds one cell may run.
    params : dict, optional
        Extra report parameters (e.g. ``{"network_year": 1967}`` for the fit report).

    Returns
    -------
    pathlib.Path
        The HTML file (or notebook) written.

    Raises
    ------
    ReportError, FitFileError
        Bad run directory, unknown parameter, failing cell (named with its error), Quarto failure.
    """
    if engine not in ENGINES:
        raise ReportError(f"engine '{engine}' is not one of {', '.join(ENGINES)}")
    dirs = [check_run_dir(r) for r in run_dirs]
    if not dirs:
        raise ReportError("give at least one run directory")
    if len(dirs) != len(set(dirs)):
        raise ReportError("the same run directory is given twice")
    if len(dirs) == 1:
        template, all_params = template_path(FIT_TEMPLATE), {"run_dir": str(dirs[0])}
    else:
        template, all_params = (
            template_path(COMPARISON_TEMPLATE),
            {"run_dirs": [str(d) for d in dirs]},
        )
    all_params.update(params or {})
    out = Path(out).expanduser() if out is not None else default_output(dirs)
    if out.suffix.lower() not in (*HTML_SUFFIXES, NOTEBOOK_SUFFIX):
        raise ReportError(f"--out {out}: the report is written as .html (or .ipynb: the notebook)")
    if out.is_dir():
        raise ReportError(f"--out {out}: is a directory; give a file name ending in .html")
    return render_qmd(template, all_params, out, engine=engine, progress=progress, timeout=timeout)


def render_qmd(
    template: str | Path,
    params: dict,
    out: str | Path,
    *,
    engine: str = "auto",
    progress: bool = True,
    timeout: int = CELL_TIMEOUT,
) -> Path:
    """Render one ``.qmd`` with ``params`` to the HTML file ``out`` (see :func:`render_report`)."""
    if engine not in ENGINES:
        raise ReportError(f"engine '{engine}' is not one of {', '.join(ENGINES)}")
    out = Path(out)
    qmd = read_qmd(template)
    notebook = out.suffix.lower() == NOTEBOOK_SUFFIX
    if engine == "quarto" and notebook:
        raise ReportError(f"--out {out}: the notebook comes from the Jupyter engine, not quarto")
    if engine == "quarto" and not shutil.which("quarto"):
        raise ReportError("engine 'quarto': the quarto binary is not on PATH")
    use_quarto = not notebook and (
        engine == "quarto" or (engine == "auto" and shutil.which("quarto"))
    )
    to_notebook(qmd, params)  # checks the parameters before anything starts
    t0 = time.perf_counter()
    if use_quarto:
        _render_quarto(qmd, params, out, progress, timeout)
    else:
        _render_jupyter(qmd, params, out, progress, timeout)
    if progress:
        _log(f"report rendered in {time.perf_counter() - t0:.1f} s: {out}")
    return out


def _log(message: str) -> None:
    Console(stderr=True).print(f"[dim]{message}[/]", highlight=False)


# ------------------------------------------------------------------ kernel
def kernel_env() -> dict[str, str]:
    """Environment of the report kernel: headless matplotlib, caches outside the working tree.

    Returns
    -------
    dict
        Variables to add to the kernel's environment: ``MPLBACKEND=Agg``, PyTensor's
        compile cache and matplotlib's config directory under
        :func:`walt_bayes.paths.cache_root` (each unless the user has set it already).
    """
    env = {"MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    with_cache = pytensor_cache_flags(flags)
    if with_cache != flags:  # the user's own base_compiledir is inherited unchanged
        env["PYTENSOR_FLAGS"] = with_cache
    if "MPLCONFIGDIR" not in os.environ:
        env["MPLCONFIGDIR"] = str(cache_root() / "matplotlib")
    return env


def write_kernel_spec(folder: Path, name: str = KERNEL_NAME) -> Path:
    """Write a kernel spec running ipykernel with *this* interpreter (no global install needed)."""
    kdir = folder / "kernels" / name
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "walt-bayes (Python 3)",
        "language": "python",
        "env": kernel_env(),
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder / "kernels"


def _last_line(log) -> str:
    """The last non-empty line of the kernel's log (for error messages)."""
    try:
        log.flush()
        log.seek(0)
        lines = [ln.strip() for ln in log.read().splitlines() if ln.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1] if lines else ""


def _cell_name(cell, index: int) -> str:
    meta = cell.get("metadata", {}).get("walt_bayes", {})
    label = (meta.get("options") or {}).get("label")
    line = meta.get("line")
    where = f"line {line}" if line else f"cell {index}"
    return f"'{label}' ({where})" if label else where


def _render_jupyter(qmd: Qmd, params: dict, out: Path, progress: bool, timeout: int) -> None:
    """Run the report's cells in a kernel of this interpreter, then write ``out``."""
    nb = to_notebook(qmd, params)
    with tempfile.TemporaryDirectory(prefix="walt-bayes-report-") as tmp:
        _execute(nb, qmd, tmp, progress, timeout)
    _write_executed(nb, qmd, params, out)


def _notebook_client(nb, tmp: str, timeout: int):
    """An nbclient runner of ``nb`` whose kernel spec (this interpreter) lives in ``tmp``."""
    # lazy: jupyter_client and nbclient (seconds to import) only when a report runs in a kernel
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager  # lazy: jupyter_client, as above
    from nbclient import NotebookClient  # lazy: nbclient, as above

    ksm = KernelSpecManager(kernel_dirs=[str(write_kernel_spec(Path(tmp)))])
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    return NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        allow_errors=False,
        resources={"metadata": {"path": tmp}},
        record_timing=False,
    )


def _progress_bar(qmd: Qmd, progress: bool):
    """A transient Rich bar on stderr counting the code cells (disabled without ``progress``)."""
    return Progress(
        TextColumn(f"[bold]{qmd.path.stem}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        disable=not progress,
        transient=True,
    )


def _execute(nb, qmd: Qmd, tmp: str, progress: bool, timeout: int) -> None:
    """Execute ``nb``'s code cells in place; any failure is a ReportError naming the cell."""
    # lazy: nbclient (seconds to import) only when a report runs in a kernel
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = _notebook_client(nb, tmp, timeout)
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with _progress_bar(qmd, progress) as bar:
        task = bar.add_task("starting kernel", total=len(code_cells))
        log = open(Path(tmp) / "kernel.log", "w+", encoding="utf-8", errors="replace")
        try:
            # The kernel's own chatter (transport warnings, shutdown notes) goes to a log file,
            # read back only to explain a kernel that fails to start or dies.
            with client.setup_kernel(stdout=log, stderr=log):
                for index, cell in code_cells:
                    bar.update(task, description=_cell_name(cell, index))
                    client.execute_cell(cell, index)
                    bar.advance(task)
        except CellExecutionError as err:
            name = _cell_name(nb.cells[index], index)
            ename = getattr(err, "ename", "Error")
            evalue = getattr(err, "evalue", str(err))
            raise ReportError(f"{qmd.path.name}: cell {name} failed: {ename}: {evalue}") from None
        except CellTimeoutError as err:
            raise ReportError(
                f"{qmd.path.name}: cell {_cell_name(nb.cells[index], index)} ran past {timeout} s"
            ) from err
        except DeadKernelError as err:
            raise ReportError(
                f"{qmd.path.name}: the report kernel died ({_last_line(log) or err})"
            ) from err
        except RuntimeError as err:  # kernel failed to start
            raise ReportError(
                f"{qmd.path.name}: cannot start the report kernel ({_last_line(log) or err})"
            ) from err
        finally:
            log.close()


def _write_executed(nb, qmd: Qmd, params: dict, out: Path) -> None:
    """Write the executed notebook itself (``.ipynb``) or its self-contained HTML page."""
    if out.suffix.lower() == NOTEBOOK_SUFFIX:
        with atomic_path(out, suffix=NOTEBOOK_SUFFIX) as tmp_out:
            nbformat.write(nb, tmp_out)
        return
    footer = (
        f"Rendered by walt-bayes without Quarto (Jupyter kernel, nbclient) from {qmd.path.name}; "
        f"parameters: {json.dumps(params)}."
    )
    page = notebook_to_html(nb, qmd, footer=footer)
    with atomic_path(out, suffix=".html") as tmp_out:
        tmp_out.write_text(page, encoding="utf-8")


# ------------------------------------------------------------------ quarto
def _render_quarto(qmd: Qmd, params: dict, out: Path, progress: bool, timeout: int) -> None:
    """``quarto render`` of a copy of the template, with this interpreter as its Jupyter kernel."""
    quarto = shutil.which("quarto")
    with tempfile.TemporaryDirectory(prefix="walt-bayes-quarto-") as tmp:
        work = Path(tmp)
        src = work / qmd.path.name
        shutil.copyfile(qmd.path, src)
        params_file = work / "params.json"
        params_file.write_text(json.dumps(params), encoding="utf-8")
        jupyter_dir = work / "jupyter"
        write_kernel_spec(jupyter_dir, name="python3")  # the template asks for `jupyter: python3`
        env = {**os.environ, **kernel_env()}
        env["QUARTO_PYTHON"] = sys.executable
        env["JUPYTER_PATH"] = os.pathsep.join(
            filter(None, [str(jupyter_dir), os.environ.get("JUPYTER_PATH")])
        )
        name = "report.html"
        cmd = [
            quarto,
            "render",
            str(src),
            "--to",
            "html",
            "--execute",
            "--execute-params",
            str(params_file),
            "--output",
            name,
            "-M",
            "embed-resources:true",
        ]
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if progress:
                sys.stderr.write(line)
        code = proc.wait()
        produced = work / name
        if code != 0 or not produced.exists():
            raise ReportError(
                f"{qmd.path.name}: quarto render failed: {_quarto_error(lines, code)}"
            )
        with atomic_path(out, suffix=".html") as tmp_out:
            shutil.copyfile(produced, tmp_out)


def _quarto_error(lines: list[str], code: int) -> str:
    """The most telling line of Quarto's output (the exception line of a failing cell)."""
    for line in reversed(lines):
        text = line.strip()
        if (
            text
            and (":" in text)
            and (text.split(":")[0].endswith(("Error", "Exception")) or "ERROR" in text)
        ):
            return text
    tail = [t.strip() for t in lines if t.strip()]
    return tail[-1] if tail else f"exit status {code}"
