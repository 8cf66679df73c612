"""From cell records to results.json, markdown tables and charts with intervals.

Per (mode, budget, preset): mIoU mean and sample std over seeds (each seed's mIoU pooled over the
test scans), the same for the head / common / tail classes, a 95 % bootstrap interval of the mean
mIoU, and the paired difference ``dos - preset`` with its 95 % bootstrap interval over seeds and test
scans (pointcept/utils/stats.py), on the seeds both arms finished.
"""

import os

import numpy as np

from pointcept.utils.stats import GROUPS, bootstrap_miou, mean_std, paired_bootstrap, seed_mious
from pointcept.utils.visualization import pyplot

from .protocol import REFERENCE


def _stack(records: list[dict]) -> np.ndarray:
    """(S, N, 2, C) counts of one arm's seed records (all on the same scans)."""
    names = records[0]["scans"]
    for r in records:
        if r["scans"] != names:
            raise ValueError(
                f"cell {r['preset']} seed {r['seed']} was tested on other scans than seed {records[0]['seed']}"
            )
    return np.asarray([r["counts"] for r in records], dtype=np.float64)


# The paper's ablation chain as (from, to, the paper's Δ = to - from in mIoU points, what changes):
# nuScenes linear probe (shared/research/dos_paper.md section 6.4); alpha3 from the ScanNet linear
# probe (section 6.5: alpha 3 69.8 vs alpha 0 71.9); pretraining itself has no number there.
CHAIN = (
    ("naive", "sonata", 0.4, "+ token jitter (Sonata)"),
    ("sonata", "observable", 14.2, "+ observable-point distillation"),
    ("observable", "softmap", 3.0, "+ softmaps instead of clustering"),
    ("observable", "regression", -6.3, "feature regression instead of clustering"),
    ("softmap", "dos", 1.8, "+ Zipf-Sinkhorn, alpha 1.3"),
    ("softmap", "alpha3", -2.1, "alpha 3 instead of 0"),
    ("random-init", "dos", None, "DOS pretraining vs none"),
)


def verdict(paper: float | None, diff: dict) -> str:
    """Does a measured paired difference reproduce the paper's direction? ``same`` / ``opposite``
    when its interval excludes 0, ``noise`` when it contains 0 (``—`` without a paper number)."""
    if paper is None or np.isnan(diff["low"]):
        return "—"
    if diff["low"] <= 0 <= diff["high"]:
        return "noise"
    return "same" if (diff["diff"] > 0) == (paper > 0) else "opposite"


def chain(cells: list[dict], protocol) -> list[dict]:
    """Each step of ``CHAIN`` whose two presets ran, per (mode, budget): the paired difference
    to - from over the seeds both finished, with its interval and the verdict against the paper."""
    index = {(c["mode"], c["budget"], c["preset"], c["seed"]): c for c in cells}
    rows = []
    for mode in protocol.modes:
        for budget in protocol.budgets:
            for start, end, paper, what in CHAIN:
                seeds = [
                    s
                    for s in protocol.seeds
                    if (mode, budget, start, s) in index and (mode, budget, end, s) in index
                ]
                if not seeds:
                    continue
                diff = paired_bootstrap(
                    _stack([index[mode, budget, end, s] for s in seeds]),
                    _stack([index[mode, budget, start, s] for s in seeds]),
                    num_resamples=protocol.resamples,
                    seed=0,
                )
                rows.append(
                    dict(mode=mode, budget=budget, step=[start, end], what=what, paper=paper, seeds=seeds,
                         diff=diff, verdict=verdict(paper, diff))
                )  # fmt: skip
    return rows


def summarize(cells: list[dict], protocol, groups: dict[str, list[int]]) -> list[dict]:
    """One row per (mode, budget, preset) with at least one finished seed, in protocol order."""
    index = {(c["mode"], c["budget"], c["preset"], c["seed"]): c for c in cells}
    rows = []
    for mode in protocol.modes:
        for budget in protocol.budgets:
            ref_seeds = [s for s in protocol.seeds if (mode, budget, REFERENCE, s) in index]
            for preset in protocol.presets:
                seeds = [s for s in protocol.seeds if (mode, budget, preset, s) in index]
                if not seeds:
                    continue
                counts = _stack([index[mode, budget, preset, s] for s in seeds])
                per_seed = seed_mious(counts)
                mean, std = mean_std(per_seed)
                ci = bootstrap_miou(counts, num_resamples=protocol.resamples, seed=0)
                row = dict(
                    mode=mode,
                    budget=budget,
                    preset=preset,
                    seeds=seeds,
                    num_labelled=index[mode, budget, preset, seeds[0]]["num_labelled"],
                    mIoU=dict(mean=mean, std=std, low=ci["low"], high=ci["high"], per_seed=per_seed.tolist()),
                    groups={},
                    vs_reference=None,
                )
                for g in GROUPS:
                    m, s = mean_std(seed_mious(counts, groups[g])) if groups[g] else (float("nan"),) * 2
                    row["groups"][g] = dict(mean=m, std=s)
                paired = [s for s in seeds if s in ref_seeds]
                if preset != REFERENCE and paired:
                    ref = _stack([index[mode, budget, REFERENCE, s] for s in paired])
                    arm = _stack([index[mode, budget, preset, s] for s in paired])
                    row["vs_reference"] = dict(seeds=paired)
                    for g in ("all", *GROUPS):
                        classes = None if g == "all" else groups[g]
                        if classes == []:
                            continue
                        row["vs_reference"][g] = paired_bootstrap(
                            ref, arm, classes=classes, num_resamples=protocol.resamples, seed=0
                        )
                rows.append(row)
    return rows


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.1f}"


def _pm(d: dict) -> str:
    if np.isnan(d["std"]):
        return _pct(d["mean"])
    return f"{_pct(d['mean'])} ± {_pct(d['std'])}"


def _diff(d: dict | None) -> str:
    if d is None:
        return "—"
    if np.isnan(d["diff"]):  # the group has no class in the test scans
        return "n/a"
    return f"{100 * d['diff']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"


def markdown(results: dict) -> str:
    """Tables (mIoU in %, one per mode and budget) with a header stating what was run."""
    p = results["protocol"]
    groups = results["groups"]
    load = results["load_average"]
    this_call = (
        f"this call ran {results['runs_this_call']} of them in {results['wall_minutes']:.1f} min wall time "
        f"(load average {load['start']:.2f} at start, {load['end']:.2f} at end)"
        if results["runs_this_call"]
        else "this call ran none (report from finished cells)"
    )
    num_test = results["num_test_scans"]
    lines = [
        f"# Quality check: protocol `{p['name']}` on `{results['data']}` data",
        "",
        f"Presets {', '.join(p['presets'])}; seeds {', '.join(map(str, p['seeds']))}; "
        f"pretraining {p['pretrain_steps']} steps, downstream {p['downstream_steps']} steps; "
        f"{num_test} test scan{'s' if num_test != 1 else ''}; {results['compute_minutes']:.1f} min of runs "
        f"in all; {this_call}.",
        "",
        "mIoU in %, mean ± sample std over seeds (each seed's mIoU from intersections and unions summed "
        "over the test scans). Δ = dos − preset, paired by seed, with its 95 % bootstrap interval over "
        f"seeds and test scans ({p['resamples']} resamples). An interval containing 0 means: within noise.",
        "",
        "Class groups by labelled training points: "
        + "; ".join(f"{g} = {', '.join(groups[g]) or '(none)'}" for g in GROUPS),
    ]
    for mode in p["modes"]:
        for budget in p["budgets"]:
            rows = [r for r in results["summary"] if r["mode"] == mode and r["budget"] == budget]
            if not rows:
                continue
            n = rows[0]["num_labelled"]
            scans = f"{n} labelled scan{'s' if n != 1 else ''}"
            title = f"{budget} of the labelled scans ({scans})" if budget.endswith("%") else scans
            lines += [
                "",
                f"## {mode}, {title}",
                "",
                "| preset | seeds | mIoU | head | common | tail | Δ mIoU [95 % CI] | Δ tail [95 % CI] |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                vs = r["vs_reference"] or {}
                lines.append(
                    f"| {r['preset']} | {len(r['seeds'])} | {_pm(r['mIoU'])} | {_pm(r['groups']['head'])} | "
                    f"{_pm(r['groups']['common'])} | {_pm(r['groups']['tail'])} | {_diff(vs.get('all'))} | "
                    f"{_diff(vs.get('tail'))} |"
                )
    lines += chain_markdown(results)
    lines += efficiency_markdown(results)
    return "\n".join(lines) + "\n"


def chain_markdown(results: dict) -> list[str]:
    """Per mode: the paper's chain, one row per step, one column per budget (Δ [95 % CI] verdict)."""
    lines = []
    for mode in results["protocol"]["modes"]:
        rows = [r for r in results.get("chain", []) if r["mode"] == mode]
        budgets = [b for b in results["protocol"]["budgets"] if any(r["budget"] == b for r in rows)]
        if not rows:
            continue
        lines += [
            "",
            f"## The paper's chain, {mode}: Δ = to − from in mIoU points [95 % CI], paired by seed",
            "",
            "Verdict against the paper's sign: same / opposite when the interval excludes 0, noise when "
            "it contains 0.",
            "",
            "| step | paper Δ | " + " | ".join(budgets) + " |",
            "|" + "---|" * (2 + len(budgets)),
        ]
        for start, end, paper, what in CHAIN:
            found = {r["budget"]: r for r in rows if r["step"] == [start, end]}
            if not found:
                continue
            cells = [f"{start} → {end}: {what}", "—" if paper is None else f"{paper:+.1f}"]
            for b in budgets:
                r = found.get(b)
                if r is None:
                    cells.append("—")
                else:
                    cells.append(_diff(r["diff"]) + ("" if r["verdict"] == "—" else f" {r['verdict']}"))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def efficiency_rows(results: dict, mode: str) -> tuple[list[str], list[tuple]]:
    """Label efficiency of one mode: the presets it ran and, per budget in increasing number of
    labelled scans, (budget, scans, {preset: row})."""
    rows = [r for r in results["summary"] if r["mode"] == mode]
    presets = [p for p in results["protocol"]["presets"] if any(r["preset"] == p for r in rows)]
    table = []
    for budget in results["protocol"]["budgets"]:
        by_preset = {r["preset"]: r for r in rows if r["budget"] == budget}
        if by_preset:
            table.append((budget, next(iter(by_preset.values()))["num_labelled"], by_preset))
    return presets, sorted(table, key=lambda t: t[1])


def efficiency_markdown(results: dict) -> list[str]:
    """Per mode with two budgets or more: mIoU per preset against the labelled scans, and the
    paired difference dos - random init."""
    lines = []
    for mode in results["protocol"]["modes"]:
        presets, table = efficiency_rows(results, mode)
        if len(table) < 2:
            continue
        baseline = "random-init" if "random-init" in presets and REFERENCE in presets else None
        head = ["labelled scans", *presets] + ([f"Δ {REFERENCE} − random-init [95 % CI]"] if baseline else [])
        lines += [
            "",
            f"## Label efficiency, {mode}: mIoU against the labelled scans",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for budget, scans, by_preset in table:
            cells = [f"{scans} ({budget})"] + [
                _pm(by_preset[p]["mIoU"]) if p in by_preset else "—" for p in presets
            ]
            if baseline:
                vs = by_preset.get(baseline, {}).get("vs_reference") or {}
                cells.append(_diff(vs.get("all")))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def efficiency_chart(results: dict, path: str) -> bool:
    """mIoU (95 % interval) against the labelled scans (log axis), one line per preset, one panel per
    mode with two budgets or more; False (nothing written) when no mode has."""
    plt = pyplot()

    modes = [m for m in results["protocol"]["modes"] if len(efficiency_rows(results, m)[1]) >= 2]
    if not modes:
        return False
    fig, axes = plt.subplots(1, len(modes), figsize=(4.6 * len(modes), 4.0), squeeze=False)
    palette = [c for c in plt.get_cmap("tab10").colors if c != plt.get_cmap("tab10").colors[3]]  # 3: red
    legend = ([], [])  # of the panel with the most presets (colours are the same in every panel)
    for ax, mode in zip(axes[0], modes):
        presets, table = efficiency_rows(results, mode)
        for preset in presets:
            points = [(n, by[preset]["mIoU"]) for _, n, by in table if preset in by]
            x = np.array([n for n, _ in points], dtype=float)
            mean = np.array([100 * m["mean"] for _, m in points])
            err = [mean - [100 * m["low"] for _, m in points], [100 * m["high"] for _, m in points] - mean]
            # one colour per preset across panels (its place in the protocol), dos in red and thick
            colour = palette[results["protocol"]["presets"].index(preset) % len(palette)]
            style = dict(color="tab:red", lw=2.2) if preset == REFERENCE else dict(color=colour, lw=1.2)
            ax.errorbar(x, mean, yerr=err, marker="o", ms=3, capsize=2, label=preset, **style)
        ax.set_xscale("log")
        scans = [n for _, n, _ in table]  # ticks at the budgets, as plain counts
        ax.set_xticks(scans, [str(n) for n in scans])
        ax.minorticks_off()
        ax.set_xlabel("labelled training scans")
        ax.set_ylabel("mIoU (%)")
        ax.set_title(mode, fontsize=10)
        ax.grid(alpha=0.3)
        if len(presets) > len(legend[1]):
            legend = ax.get_legend_handles_labels()
    fig.suptitle(
        f"label efficiency, protocol {results['protocol']['name']} on {results['data']} data", fontsize=10
    )
    # one legend under the panels, where it hides no line
    rows = -(-len(legend[1]) // 4)
    fig.legend(*legend, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.035 + 0.045 * rows, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def bar_chart(results: dict, path: str) -> None:
    """One panel per (mode, budget): mean mIoU per preset with its 95 % bootstrap interval."""
    plt = pyplot()

    p = results["protocol"]
    modes, budgets = p["modes"], p["budgets"]
    fig, axes = plt.subplots(
        len(modes), len(budgets), figsize=(3.2 * len(budgets) + 1, 2.8 * len(modes) + 0.6), squeeze=False
    )
    for i, mode in enumerate(modes):
        for j, budget in enumerate(budgets):
            ax = axes[i][j]
            rows = [r for r in results["summary"] if r["mode"] == mode and r["budget"] == budget]
            names = [r["preset"] for r in rows]
            mean = np.array([100 * r["mIoU"]["mean"] for r in rows])
            low = np.array([100 * r["mIoU"]["low"] for r in rows])
            high = np.array([100 * r["mIoU"]["high"] for r in rows])
            colours = ["tab:red" if n == REFERENCE else "tab:blue" for n in names]
            ax.bar(range(len(rows)), mean, color=colours, yerr=[mean - low, high - mean], capsize=3)
            ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
            ax.set_title(f"{mode}, {budget}", fontsize=9)
            if j == 0:
                ax.set_ylabel("mIoU (%)")
    fig.suptitle(
        f"protocol {p['name']} on {results['data']} data: mean mIoU, 95 % bootstrap interval", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(results: dict, out_dir: str) -> dict[str, str]:
    """results.json, results.md, results.png and (two budgets or more) label_efficiency.png in
    ``out_dir``; returns their paths."""
    from .data import write_json_atomic

    paths = {ext: os.path.join(out_dir, f"results.{ext}") for ext in ("json", "md", "png")}
    write_json_atomic(paths["json"], results)
    with open(paths["md"], "w") as f:
        f.write(markdown(results))
    bar_chart(results, paths["png"])
    efficiency = os.path.join(out_dir, "label_efficiency.png")
    if efficiency_chart(results, efficiency):
        paths["efficiency"] = efficiency
    return paths
