"""Plotly figures of the report. One colour per model in every figure, one legend group per
family (clicking a group title toggles the family), the run's full key on hover."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from diffbench.report.findings import pareto_front

SAMPLER_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross", "pentagon"]
SAMPLER_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]

HOVER_COLUMNS = [
    "dataset",
    "model",
    "family",
    "downsampling_factor",
    "sampler",
    "steps",
    "nfe",
    "n_samples",
    "seed_first",
    "seed_last",
    "fid",
    "fid_ci_low",
    "fid_ci_high",
    "sampling_s_per_image",
    "total_train_s",
    "timesteps",
]
HOVER = (
    "<b>%{customdata[1]}</b> (%{customdata[2]}, f=%{customdata[3]})<br>"
    "dataset %{customdata[0]} · sampler %{customdata[4]} · %{customdata[5]} steps · %{customdata[6]} NFE<br>"
    "timesteps %{customdata[15]}<br>"
    "n=%{customdata[7]} samples, seeds %{customdata[8]}–%{customdata[9]}<br>"
    "FID %{customdata[10]:.4g} [%{customdata[11]:.4g}, %{customdata[12]:.4g}]<br>"
    "%{customdata[13]:.3g} s/image · training %{customdata[14]:.4g} s"
    "<extra>%{y:.4g}</extra>"
)


def model_colors(models: list[str]) -> dict[str, str]:
    palette = qualitative.Plotly + qualitative.D3
    return {model: palette[i % len(palette)] for i, model in enumerate(models)}


def _styles(values: list[str], choices: list[str]) -> dict[str, str]:
    return {value: choices[i % len(choices)] for i, value in enumerate(values)}


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, log_x: bool, log_y: bool) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=460,
        hovermode="closest",
        legend={"groupclick": "togglegroup", "title": "click a family to toggle it"},
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    if not fig.data:
        fig.add_annotation(
            text="no results yet (see Provenance: missing)",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            font={"size": 16, "color": "#888"},
        )
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    return fig


def _error_bars(frame: pd.DataFrame, metric: str) -> dict | None:
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    if low not in frame or frame[low].isna().all():
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[metric]).clip(lower=0).tolist(),
        "arrayminus": (frame[metric] - frame[low]).clip(lower=0).tolist(),
        "thickness": 1,
    }


def _frontier(x: pd.Series, y: pd.Series, group_title: str, **style) -> go.Scatter:
    """The black step line of the points no other point beats on both axes."""
    return go.Scatter(
        x=x, y=y, name="Pareto frontier", legendgroup="frontier", legendgrouptitle_text=group_title, **style
    )


def metric_vs_cost(
    runs: pd.DataFrame,
    colors: dict[str, str],
    *,
    metric: str,
    metric_title: str,
    cost: str,
    cost_title: str,
    title: str,
    log_x: bool = True,
    log_y: bool = False,
    frontier: bool = True,
    lower_is_better: bool = True,
) -> go.Figure:
    """One line per (model, sampler) through its step counts; the Pareto frontier over all runs."""
    done = runs.dropna(subset=[metric, cost])
    symbols = _styles(sorted(runs.sampler.unique()), SAMPLER_SYMBOLS)
    dashes = _styles(sorted(runs.sampler.unique()), SAMPLER_DASHES)
    fig = go.Figure()
    for (family, model, sampler), group in done.groupby(["family", "model", "sampler"], sort=False):
        group = group.sort_values(cost)
        fig.add_trace(
            go.Scatter(
                x=group[cost],
                y=group[metric],
                mode="lines+markers",
                name=f"{model} · {sampler}",
                legendgroup=family,
                legendgrouptitle_text=family,
                line={"color": colors[model], "dash": dashes[sampler]},
                marker={"symbol": symbols[sampler], "size": 9, "color": colors[model]},
                error_y=_error_bars(group, metric),
                customdata=group[HOVER_COLUMNS].to_numpy(),
                hovertemplate=HOVER,
            )
        )
    if frontier and len(done):
        quality = done[metric] if lower_is_better else -done[metric]
        front = done[pareto_front(done[cost], quality)].sort_values(cost)
        fig.add_trace(
            _frontier(
                front[cost],
                front[metric],
                "all runs",
                mode="lines+markers",
                line={"color": "black", "width": 2, "shape": "hv"},
                marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
                customdata=front[HOVER_COLUMNS].to_numpy(),
                hovertemplate=HOVER,
            )
        )
    return _layout(fig, title, cost_title, metric_title, log_x, log_y)


def quality_figures(runs: pd.DataFrame, colors: dict[str, str]) -> dict[str, go.Figure]:
    """Quality against each sampling cost (and training time), KID first with a button for FID."""
    metrics = {
        "KID": {"metric": "kid", "metric_title": "KID (lower is better)", "log_y": False},
        "FID": {"metric": "fid", "metric_title": "FID (lower is better)", "log_y": True},
    }
    costs = {
        "fid_vs_time": ("sampling_s_per_image", "sampling time per image (s)", "sampling time"),
        "fid_vs_nfe": ("nfe", "network evaluations per image (NFE)", "NFE"),
        "fid_vs_training": (
            "total_train_s",
            "training time, every stage: first stage, encoding, denoiser (s)",
            "training compute",
        ),
        "fid_vs_gflops": ("sampling_gflops_per_image", "GFLOPs per image (all steps + decoder)", "FLOPs"),
    }
    return {
        name: metric_toggle(
            {
                label: metric_vs_cost(
                    runs, colors, **metric, cost=cost, cost_title=cost_title, title=f"{label} vs {what}"
                )
                for label, metric in metrics.items()
            }
        )
        for name, (cost, cost_title, what) in costs.items()
    }


def lpips_figures(runs: pd.DataFrame, colors: dict[str, str]) -> dict[str, go.Figure]:
    return {
        "lpips_diversity": metric_vs_cost(
            runs,
            colors,
            metric="lpips_diversity",
            metric_title="mean pairwise LPIPS (higher = more diverse)",
            cost="nfe",
            cost_title="NFE",
            title="Sample diversity vs NFE",
            lower_is_better=False,
        ),
        "lpips_convergence": metric_vs_cost(
            runs,
            colors,
            metric="lpips_convergence",
            metric_title="LPIPS to the largest step count (same seed)",
            cost="nfe",
            cost_title="NFE",
            title="Sampler convergence vs NFE",
            frontier=False,
        ),
    }


def training_curves(curves: pd.DataFrame, colors: dict[str, str], smooth: int = 25) -> go.Figure:
    """Loss per optimiser step (rolling mean over `smooth` steps) of each UNet and first stage."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("denoiser (UNet) loss", "first-stage autoencoder loss"))
    for (model, stage), group in curves.groupby(["model", "stage"], sort=False):
        col = 1 if stage == "unet" else 2
        fig.add_trace(
            go.Scatter(
                x=group.images_seen,
                y=group.loss.rolling(smooth, min_periods=1).mean(),
                mode="lines",
                name=f"{model} · {stage}",
                legendgroup=group.family.iloc[0],
                legendgrouptitle_text=group.family.iloc[0],
                line={"color": colors[model]},
                hovertemplate=f"{model} {stage}<br>images seen %{{x}}<br>loss %{{y:.4g}}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(title="images seen")
    fig.update_yaxes(type="log", title=f"loss (rolling mean of {smooth} steps)")
    fig.update_layout(
        template="plotly_white", height=420, title="Training curves", legend={"groupclick": "togglegroup"}
    )
    return fig


# the two compute axes of the curves: GFLOPs (the same on every machine) and seconds (on the
# devices the models trained on, which the Provenance section lists)
TRAINING_COMPUTE_AXES = {
    "quality_along_training": ("total_train_gflops", "total training GFLOPs, every stage (first stage included)"),
    "quality_along_training_s": ("total_train_s", "total training seconds, every stage, on the training device (s)"),
}


def quality_along_training(
    curves: pd.DataFrame, colors: dict[str, str], cost: str, cost_title: str, metric: str = "kid"
) -> go.Figure:
    """`metric` against total training compute (log), one line per model and milestone setting
    through its milestones to its final model, with the intervals as error bars; a model with
    training seeds is one line through the seeds' mean with their range as a band. The black step
    line is the Pareto frontier over every point (no point both cheaper and better)."""
    fig = go.Figure()
    done = curves.dropna(subset=[metric, cost])
    name = metric.upper()
    for (family, base, sampler, steps), group in done.groupby(
        ["family", "replicate_of", "sampler", "steps"], sort=False
    ):
        color = colors.get(base, colors[group.model.iloc[0]])
        seeds = group.model.nunique()
        common = {"legendgroup": family, "legendgrouptitle_text": family, "line": {"color": color}}
        if seeds > 1:
            points = (
                group.groupby(["point", "milestone"], dropna=False, sort=False)
                .agg(x=(cost, "mean"), y=(metric, "mean"), low=(metric, "min"), high=(metric, "max"))
                .sort_values("x")
            )
            fig.add_trace(
                go.Scatter(
                    x=[*points.x, *points.x[::-1]],
                    y=[*points.high, *points.low[::-1]],
                    fill="toself",
                    fillcolor=color,
                    opacity=0.2,
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=family,
                )
            )
            x, y, label, bars = points.x, points.y, f"{base} · {sampler} {steps} (mean of {seeds} seeds)", None
        else:
            group = group.sort_values(cost)
            x, y, label, bars = group[cost], group[metric], f"{base} · {sampler} {steps}", _error_bars(group, metric)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name=label,
                marker={"size": 9, "color": color, "symbol": ["circle"] * (len(x) - 1) + ["star"]},
                error_y=bars,
                hovertemplate=f"{base} {sampler} {steps}<br>%{{x:.4g}}<br>{name} %{{y:.4g}}<extra></extra>",
                **common,
            )
        )
    if len(done) > 1:
        front = done[pareto_front(done[cost], done[metric])].sort_values(cost)
        line = {"color": "black", "width": 1.5, "shape": "hv", "dash": "dot"}
        fig.add_trace(_frontier(front[cost], front[metric], "all points", mode="lines", line=line, hoverinfo="skip"))
    unit = "seconds" if cost == "total_train_s" else "GFLOPs"
    title = f"Quality along training, in {unit} (star: final model)"
    return _layout(fig, title, cost_title, f"{name} (lower is better)", True, metric == "fid")


# The verdict's statistic first; FID, the number papers report, one click away.
TOGGLED_METRICS = {"kid": "KID", "fid": "FID"}


def metric_toggle(by_metric: dict[str, go.Figure]) -> go.Figure:
    """One figure with every metric's traces, the first metric's shown, and buttons that switch
    between them (plotly's updatemenus: visibility, y axis and title; no server, works offline)."""
    labels = list(by_metric)
    first = by_metric[labels[0]]
    fig = go.Figure(layout=first.layout)
    spans = []
    for k, label in enumerate(labels):
        begin = len(fig.data)
        for trace in by_metric[label].data:
            fig.add_trace(trace.update(visible=k == 0))
        spans.append(range(begin, len(fig.data)))
    buttons = []
    for label, span in zip(labels, spans, strict=True):
        layout = by_metric[label].layout
        shown = [i in span for i in range(len(fig.data))]
        axis = {"yaxis.title.text": layout.yaxis.title.text, "yaxis.type": layout.yaxis.type}
        buttons.append({"label": label, "method": "update", "args": [{"visible": shown}, axis]})
    menu = {"type": "buttons", "direction": "right", "buttons": buttons, "showactive": True,
            "x": 1.02, "xanchor": "left", "y": 0.0, "yanchor": "bottom", "pad": {"r": 0, "t": 0}}  # fmt: skip
    return fig.update_layout(updatemenus=[menu])


def along_training_toggle(curves: pd.DataFrame, colors: dict[str, str], cost: str, cost_title: str) -> go.Figure:
    """KID along training with a button for FID."""
    return metric_toggle(
        {label: quality_along_training(curves, colors, cost, cost_title, m) for m, label in TOGGLED_METRICS.items()}
    )


def answer_figure(curves: pd.DataFrame, runs: pd.DataFrame, colors: dict[str, str], dataset: str) -> go.Figure:
    """Beside a dataset's headline: its models' KID along training against total training GFLOPs
    (seconds where every budget is in seconds), or, without milestones, each run's KID at its
    model's total training compute."""
    along = curves[curves.dataset == dataset] if len(curves) else curves
    if len(along):
        key = "quality_along_training_s" if set(along.milestone_unit) == {"seconds"} else "quality_along_training"
        fig = along_training_toggle(along, colors, *TRAINING_COMPUTE_AXES[key])
        return fig.update_layout(title=f"{dataset}: quality along training (star: final model)")
    return metric_toggle(
        {
            label: metric_vs_cost(
                runs[runs.dataset == dataset],
                colors,
                metric=metric,
                metric_title=f"{label} (lower is better)",
                cost="total_train_gflops",
                cost_title="total training GFLOPs, every stage (first stage included)",
                title=f"{dataset}: quality at the end of training (no milestones)",
                log_y=metric == "fid",
                frontier=False,
            )
            for metric, label in TOGGLED_METRICS.items()
        }
    )


def all_figures(
    runs: pd.DataFrame, curves: pd.DataFrame, colors: dict[str, str], quality_curves: pd.DataFrame | None = None
) -> dict[str, go.Figure]:
    figures = {**quality_figures(runs, colors), **lpips_figures(runs, colors)}
    if quality_curves is not None and len(quality_curves):
        for name, (cost, title) in TRAINING_COMPUTE_AXES.items():
            figures[name] = along_training_toggle(quality_curves, colors, cost, title)
    if len(curves):
        figures["training_curves"] = training_curves(curves, colors)
    return figures


def static_views(figures: dict[str, go.Figure]) -> dict[str, go.Figure]:
    """The figures as a static copy shows them: a figure with metric buttons (metric_toggle) becomes
    one figure per metric without buttons, the first under its own name, the others as
    `<name>_<metric>` (fid_vs_nfe, fid_vs_nfe_fid)."""
    views = {}
    for name, fig in figures.items():
        menus = fig.layout.updatemenus
        if not menus:
            views[name] = fig
            continue
        for k, button in enumerate(menus[0].buttons):
            view = go.Figure(fig)
            view.layout.updatemenus = ()
            visible, axis = button.args
            for trace, shown in zip(view.data, visible["visible"], strict=True):
                trace.visible = shown
            view.update_layout({key.replace(".", "_"): value for key, value in axis.items()})
            views[name if k == 0 else f"{name}_{button.label.lower()}"] = view
    return views
