"""Tables that go with a panel beside its rows: the embedded alliance episodes and COW's wars.

The duration block (:mod:`walt_bayes.model.duration`) asks for them by panel and reads no
file itself; an absent table comes back as ``None`` with the reason.
"""

from __future__ import annotations

import pandas as pd

from walt_bayes.errors import WaltError
from walt_bayes.panel.embedded import episode_pair_years
from walt_bayes.sources.read import read_source


def episodes_for(panel: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The embedded episodes behind this panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        Its ``attrs`` name the data folder (``data_dir``) or the bundled data (``name``).

    Returns
    -------
    episodes : pandas.DataFrame or None
        The episodes' pair-years; None for a panel that is not the embedded data, or
        whose episodes cannot be read.
    reason : str
        Why there are none ('' when the panel simply is not the embedded data).
    """
    data_dir = panel.attrs.get("data_dir")
    if data_dir is None and panel.attrs.get("name") != "middle-east":
        return None, ""
    try:
        return episode_pair_years(data_dir), ""
    except WaltError as err:
        return None, f"the episodes behind this panel cannot be read ({err})"


def cow_wars(panel: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """COW inter-state war-years (``cow_war_inter``) for a global panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        A global COW panel has the ``war`` column; any other gets none.

    Returns
    -------
    wars : pandas.DataFrame or None
        ``warnum, x, j, year, outcome`` (the war side of state x against enemy j).
    reason : str
        Why there are none ('' when the panel is not a global COW panel).
    """
    if "war" not in panel.columns:
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
