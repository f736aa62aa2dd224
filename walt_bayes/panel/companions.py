"""Tables that go with a panel beside its rows: the embedded alliance episodes, COW's wars, war joiners.

:func:`companions_for` says which tables go with a panel (from its ``attrs`` and columns;
it reads no file) as a :class:`Companions`; :class:`~walt_bayes.panel.datasets.Dataset`
carries one, and the model's blocks 3 and 4 (:mod:`walt_bayes.model.duration`,
:mod:`walt_bayes.model.joining`) are given it and read no file themselves.

Each table is read when the model asks for it, not when the object is made: a bad
``war_joining.csv`` must stop only a spec with a ``[joining]`` block, and ``cow_war_inter``
is read only when ``war_won`` needs it and there are no episodes.  An absent table comes
back as ``None`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.panel.embedded import episode_pair_years, resolve_data_dir
from walt_bayes.panel.war_joining import FILE as JOINING_FILE
from walt_bayes.panel.war_joining import file_sha256, joiners_from_cow, load_war_joining
from walt_bayes.sources.read import read_source


@dataclass(frozen=True)
class Companions:
    """Where a panel's companion tables are; each method reads its table when called.

    Attributes
    ----------
    data_dir : str or None
        Folder of the embedded data behind the panel (``None``: the bundled data, when
        ``embedded``).
    embedded : bool
        The panel is the embedded data (its episodes and ``war_joining.csv`` go with it).
    global_cow : bool
        The panel is a global COW panel (it has the ``war`` column; ``cow_war_inter`` goes with it).
    """

    data_dir: str | None = None
    embedded: bool = False
    global_cow: bool = False

    def episodes(self) -> tuple[pd.DataFrame | None, str]:
        """The embedded episodes behind the panel.

        Returns
        -------
        episodes : pandas.DataFrame or None
            The episodes' pair-years; None for a panel that is not the embedded data, or
            whose episodes cannot be read.
        reason : str
            Why there are none ('' when the panel simply is not the embedded data).
        """
        if not self.embedded:
            return None, ""
        try:
            return episode_pair_years(self.data_dir), ""
        except WaltError as err:
            return None, f"the episodes behind this panel cannot be read ({err})"

    def cow_wars(self) -> tuple[pd.DataFrame | None, str]:
        """COW inter-state war-years (``cow_war_inter``) for a global panel.

        Returns
        -------
        wars : pandas.DataFrame or None
            ``warnum, x, j, year, outcome`` (the war side of state x against enemy j).
        reason : str
            Why there are none ('' when the panel is not a global COW panel).
        """
        if not self.global_cow:
            return None, ""
        try:
            wars = read_source("cow_war_inter")
        except WaltError as err:
            return None, f"cow_war_inter cannot be read ({err})"
        out = pd.DataFrame({
            "warnum": pd.to_numeric(wars["warnum"]).astype("int64"),
            "x": pd.to_numeric(wars["ccode1"]).astype("int64"),
            "j": pd.to_numeric(wars["ccode2"]).astype("int64"),
            "year": pd.to_numeric(wars["year"]).astype("int64"),
            "outcome": pd.to_numeric(wars["outcome1"]),
        })
        return out, ""

    def joiners(self) -> tuple[pd.DataFrame | None, dict, str]:
        """The war joiners that go with the panel: (table, provenance, reason when there is none).

        The embedded data's ``war_joining.csv`` for the embedded panel, joiners derived from
        ``cow_war_inter`` for a global COW panel, else none.

        Raises
        ------
        DataError
            ``war_joining.csv`` has a bad row (one line: file, column, CSV lines).
        """
        if self.embedded:
            path = resolve_data_dir(self.data_dir) / JOINING_FILE
            if not path.is_file():
                return None, {}, f"no {JOINING_FILE} in {path.parent}"
            table = load_war_joining(self.data_dir)
            return table, {"source": JOINING_FILE, "sha256": file_sha256(path)}, ""
        if self.global_cow:
            try:
                wars = read_source("cow_war_inter")
            except WaltError as err:
                return None, {}, f"cow_war_inter cannot be read ({err})"
            return joiners_from_cow(wars), {"source": "cow_war_inter (year-level entry)"}, ""
        return None, {}, (f"no war-joining data for this panel (the embedded data's {JOINING_FILE} or, for a "
                          "global COW panel, cow_war_inter)")


#: No companion tables (a simulated panel, or a panel file without them).
NONE = Companions()


def companions_for(panel: pd.DataFrame) -> Companions:
    """Which tables go with ``panel``, from its ``attrs`` and columns (reads no file).

    Parameters
    ----------
    panel : pandas.DataFrame
        Its ``attrs`` name the embedded data's folder (``data_dir``) or the bundled data
        (``name`` ``"middle-east"``); a ``war`` column marks a global COW panel.

    Returns
    -------
    Companions
    """
    data_dir = panel.attrs.get("data_dir")
    return Companions(
        data_dir=data_dir,
        embedded=data_dir is not None or panel.attrs.get("name") == "middle-east",
        global_cow="war" in panel.columns,
    )
