"""Fan charts a commissioner can read: the mean line (:data:`sim.analysis.ESTIMATOR`), shaded
50% and 90% of runs, dated axes, published figures as points and the day the forecast starts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.outputs import format_money, output

OBSERVED_COLOUR = "#111"


def format_axis(ax: plt.Axes, column: str) -> None:
    """The y axis of ``column`` in the units a reader expects: 10%, £1.2m, 1,234 (never 1e6)."""
    kind = output(column).kind
    if kind == "share":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif kind == "money":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_money(v)))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def fan_chart(
    snapshots: pd.DataFrame,
    column: str,
    ax: plt.Axes | None = None,
    colour: str = "#1f5f99",
    label: str | None = None,
    thin: bool = False,
) -> plt.Axes:
    """Plot ``column`` of monthly snapshots across replications as a fan chart.

    ``thin`` draws the 90% range as two fine lines instead of a band, so that two or three
    options on one chart stay apart.
    """
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    df = snapshots.assign(date=pd.to_datetime(snapshots["date"]))
    # pandas takes any array-like of quantiles; its stubs list arrays only.
    q = df.groupby("date")[column].quantile([0.05, 0.25, 0.75, 0.95]).unstack()  # type: ignore[arg-type]
    if thin:
        for p in (0.05, 0.95):
            ax.plot(q.index, q[p], color=colour, lw=0.7, ls=(0, (3, 2)), alpha=0.8)
        ax.fill_between(q.index, q[0.25], q[0.75], color=colour, alpha=0.2, lw=0)
    else:
        ax.fill_between(
            q.index, q[0.05], q[0.95], color=colour, alpha=0.15, lw=0, label="90% of runs"
        )
        ax.fill_between(
            q.index, q[0.25], q[0.75], color=colour, alpha=0.3, lw=0, label="50% of runs"
        )
    mean = df.groupby("date")[column].mean()
    ax.plot(mean.index, mean, color=colour, lw=2, label=label or "Mean")
    ax.set_title(output(column).title, loc="left", fontsize=11)
    ax.xaxis.set_major_locator(mdates.YearLocator(base=2, month=4, day=1))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    format_axis(ax, column)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def observed_points(ax: plt.Axes, observed: pd.DataFrame) -> None:
    """Published figures (``date``, ``value``, ``tolerance``) as points with their tolerance;
    figures kept back from fitting (``use == "validate"``) hollow."""
    for held_out, g in observed.groupby(observed["use"].eq("validate")):
        ax.errorbar(
            pd.to_datetime(g["date"]),
            g["value"],
            yerr=g["tolerance"],
            fmt="o",
            ms=5,
            lw=1,
            capsize=2,
            color=OBSERVED_COLOUR,
            mfc="white" if held_out else OBSERVED_COLOUR,
            zorder=5,
        )


def forecast_start(ax: plt.Axes, start: pd.Timestamp) -> None:
    """A vertical line where the history ends and the forecast begins."""
    # Matplotlib converts dates through its unit registry; its stubs admit floats only.
    ax.axvline(start, color="#555", lw=1, ls=":")  # type: ignore[arg-type]
    ax.annotate(
        "forecast starts",
        (start, 0.02),
        xycoords=("data", "axes fraction"),
        xytext=(-2, 0),
        textcoords="offset points",
        ha="right",
        va="bottom",
        rotation=90,
        fontsize=7,
        color="#555",
    )


def headline_grid(snapshots: pd.DataFrame, columns: list[str]) -> plt.Figure:
    """A grid of fan charts, two per row, with one shared legend."""
    n = len(columns)
    rows = (n + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, col in zip(axes.flat, columns, strict=False):
        fan_chart(snapshots, col, ax)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
