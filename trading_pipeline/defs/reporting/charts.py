"""Pictures in the UI: PNG images embedded as base64 in Markdown metadata (as Dagster's own tutorial does), since
Dagster's metadata plots only chart one number per event."""

import base64
import io
from collections.abc import Mapping

import pandas as pd
from dagster import MetadataValue


def _figure(rows: int = 1):
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory only
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(8, 2.6 * rows + 0.8), sharex=True, squeeze=False)


def _markdown(figure, alt: str) -> MetadataValue:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})")


def equity_and_drawdown(curve: pd.Series, title: str) -> MetadataValue:
    """The equity curve above its drawdown from the running peak."""
    figure, axes = _figure(2)
    index = pd.DatetimeIndex(curve.index)
    axes[0][0].plot(index, curve.to_numpy(), linewidth=1)
    axes[0][0].set_title(title)
    axes[0][0].set_ylabel("equity")
    drawdown = curve / curve.cummax() - 1.0
    axes[1][0].fill_between(index, drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.5)
    axes[1][0].set_ylabel("drawdown")
    return _markdown(figure, "equity and drawdown")


def equity_curves(curves: Mapping[str, pd.Series], title: str) -> MetadataValue:
    """Every point's equity curve, normalized to its starting capital (a legend up to 12 curves)."""
    figure, axes = _figure(1)
    ax = axes[0][0]
    for label, curve in curves.items():
        ax.plot(pd.DatetimeIndex(curve.index), (curve / curve.iloc[0]).to_numpy(), linewidth=0.8, label=label)
    ax.set_title(title)
    ax.set_ylabel("equity / capital")
    if len(curves) <= 12:
        ax.legend(fontsize=6)
    return _markdown(figure, "equity curves")


def sharpe_heat_map(table: pd.DataFrame, rows: str, columns: str, title: str) -> MetadataValue:
    """The Sharpe ratio over two swept parameters (other parameters' best per cell); n/a cells left blank."""
    sharpes = table.assign(sharpe=table["sharpe"].astype("float64"))  # None (no Sharpe) as NaN
    grid = sharpes.pivot_table(index=rows, columns=columns, values="sharpe", aggfunc="max", dropna=False)
    figure, axes = _figure(1)
    ax = axes[0][0]
    image = ax.imshow(grid.to_numpy(dtype="float64"), cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
    ax.set_xlabel(columns)
    ax.set_ylabel(rows)
    for (i, j), value in pd.DataFrame(grid.to_numpy()).stack(future_stack=True).items():
        ax.text(j, i, "n/a" if pd.isna(value) else f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=ax, label="sharpe")
    ax.set_title(title)
    return _markdown(figure, "Sharpe heat map")
