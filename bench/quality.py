"""Agreement and aggregation benchmark: about a million step labels, no database.

    python bench/quality.py [--chains 10000 --steps 33 --annotators 3] [--resamples 200] [--repeat 3]
                            [--write-docs]

Generates 10,000 chains × 3 annotators × ~33 steps (20–46, mean 33) with PRM800K-like skew: a chain
has a first error with probability 0.4, at a uniformly drawn step; before it steps are +1 (8 % 0),
the first error is −1, after it ratings are mixed. Annotators come from a pool of 24 with accuracy
between 0.85 and 0.98 (a miss on a +1 step is mostly a 0, on a −1 step mostly a +1), plus one who
rates everything +1;
2 % of labels are missing. Times each measure `--repeat` times in this process and prints
min–max; with `--write-docs`, writes the table into docs/benchmarks.md between the
`bench:quality` markers. crowd-kit and krippendorff, when installed, are timed beside ours.
"""

import argparse
import datetime
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review.aggregation import dawid_skene  # noqa: E402
from review.quality import (  # noqa: E402
    StepLabels,
    agreement_report,
    annotator_agreement,
    first_error_agreement,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    position_agreement,
)

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- bench:quality:start -->"
END_MARK = "<!-- bench:quality:end -->"


def generate(chains: int, steps: int, annotators: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(steps - 13, steps + 14, size=chains)
    chain = np.repeat(np.arange(chains), lengths)
    step = np.arange(chain.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    has_error = rng.random(chains) < 0.4
    first = np.where(has_error, (rng.random(chains) * lengths).astype(int), lengths)
    f = first[chain]
    truth = np.where(rng.random(chain.size) < 0.08, 0, 1)
    truth = np.where(step == f, -1, truth)
    after = step > f
    truth[after] = rng.choice([-1, 0, 1], size=int(after.sum()), p=[0.4, 0.2, 0.4])

    pool = 25
    accuracy = np.r_[np.linspace(0.85, 0.98, pool - 1), 0.0]  # the last one: always +1
    picked = np.argsort(rng.random((chains, pool)), axis=1)[:, :annotators]  # distinct annotators per chain
    coder = picked[chain].ravel()
    rows = np.repeat(np.arange(chain.size), annotators)
    true_rating = truth[rows]
    miss = rng.random(rows.size) >= accuracy[coder]
    # What a miss looks like: a sound step (+1) mostly called neutral; an error (−1) mostly missed (+1);
    # a neutral step (0) called either way. Rows: true −1, 0, +1; columns: rated −1, 0, +1.
    slips = np.array([[0.0, 0.3, 0.7], [0.4, 0.0, 0.6], [0.2, 0.8, 0.0]])
    cumulative = slips.cumsum(axis=1)[true_rating + 1]
    slipped = (rng.random(rows.size)[:, None] >= cumulative).sum(axis=1) - 1
    rating = np.where(miss, slipped, true_rating)
    rating = np.where(coder == pool - 1, 1, rating)
    keep = rng.random(rows.size) >= 0.02
    return {"chain": chain[rows][keep], "step": step[rows][keep], "coder": coder[keep], "rating": rating[keep],
            "truth": truth, "truth_rows": rows[keep]}


def timed(fn, repeat: int):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def fmt(times: list[float]) -> str:
    lo, hi = min(times), max(times)
    return f"{lo:.3f}" if hi - lo < 0.0005 else f"{lo:.3f}–{hi:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=33)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    data = generate(args.chains, args.steps, args.annotators, args.seed)
    arrays = {k: data[k] for k in ("chain", "step", "coder", "rating")}
    labels, t_build = timed(lambda: StepLabels.from_arrays(**arrays), args.repeat)
    print(f"{labels.n_labels:,} labels, {labels.n_units:,} steps, {labels.n_chains:,} chains, "
          f"{labels.n_coders} annotators; built in {fmt(t_build)} s", flush=True)
    b = args.resamples
    rows: list[tuple[str, list[float], str, str]] = [
        ("build `StepLabels.from_arrays` (validate, sort)", t_build, "", "")]

    def add(name, fn, target=None, show=None):
        result, times = timed(fn, args.repeat)
        shown = show(result) if show else ""
        verdict = ""
        if target is not None:
            verdict = f"≤ {target:g} s, " + ("met" if max(times) <= target else "**missed**")
        rows.append((name, times, verdict, shown))
        print(f"{name:<58} {fmt(times):>12} s  {verdict}  {shown}", flush=True)
        return result

    def value(e):
        return f"= {e.value:.3f}" + (f" [{e.low:.3f}, {e.high:.3f}]" if e.low is not None else "")

    add("Krippendorff α ordinal, point", lambda: krippendorff_alpha(labels, resamples=0), 1.0, value)
    add("… from the raw arrays (build + α ordinal)",
        lambda: krippendorff_alpha(StepLabels.from_arrays(**arrays), resamples=0), 1.0, value)
    add("Krippendorff α nominal, point", lambda: krippendorff_alpha(labels, level="nominal", resamples=0), 1.0,
        value)
    add("Gwet AC1, point", lambda: gwet_ac1(labels, resamples=0), None, value)
    add("Fleiss κ, point", lambda: fleiss_kappa(labels, resamples=0), None, value)
    add("first-error agreement, point", lambda: first_error_agreement(labels, resamples=0), None, value)
    add(f"Krippendorff α ordinal + {b} resamples", lambda: krippendorff_alpha(labels, resamples=b), None, value)
    add(f"Gwet AC1 + {b} resamples", lambda: gwet_ac1(labels, resamples=b), None, value)
    add(f"first-error agreement + {b} resamples", lambda: first_error_agreement(labels, resamples=b), None, value)
    add(f"report: 7 measures over one set of {b} resamples", lambda: agreement_report(labels, resamples=b))
    add("Krippendorff α ordinal + 1000 resamples", lambda: krippendorff_alpha(labels, resamples=1000), None, value)
    add(f"pairwise Cohen κ, {b} resamples per pair", lambda: pairwise_cohen_kappa(labels, resamples=b), None,
        lambda r: f"{len(r)} pairs")
    add(f"per annotator (agreement, κ, first error), {b} resamples", lambda: annotator_agreement(labels, resamples=b),
        None, lambda r: f"{len(r)} annotators")
    add(f"per step position (α, AC1), {b} resamples", lambda: position_agreement(labels, resamples=b), None,
        lambda r: f"{len(r)} buckets")
    # The planted rating of each step (unit), as a category index: labels are sorted by (chain, step,
    # coder), so map the generator's rows through the same order.
    truth = data["truth"][data["truth_rows"]][np.lexsort((data["coder"], data["step"], data["chain"]))]
    planted = np.zeros(labels.n_units, dtype=np.int64)
    planted[labels.unit] = truth + 1
    # majority vote with ties to the lower rating, as `consensus` does: argmax takes the first maximum
    majority = float((labels.unit_counts().argmax(axis=1) == planted).mean())

    def ds_show(r):
        return (f"{r.iterations} iterations; {(r.labels == planted).mean():.1%} of steps equal the planted "
                f"rating (majority vote: {majority:.1%})")

    add("Dawid–Skene (tol 1e-8, ≤ 200 iterations)", lambda: dawid_skene(labels), 10.0, ds_show)
    ours_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    try:
        import krippendorff

        counts = labels.unit_counts()
        add("comparison: `krippendorff` package, α ordinal from value counts",
            lambda: krippendorff.alpha(value_counts=counts, level_of_measurement="ordinal"), None,
            lambda r: f"= {r:.3f}")
    except ImportError:
        pass
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene

        df = pd.DataFrame({"task": labels.unit, "worker": labels.coder, "label": labels.value})
        add("comparison: crowd-kit `DawidSkene(n_iter=100)`, same labels", lambda: DawidSkene(n_iter=100).fit(df),
            None, lambda r: f"{len(r.loss_history_)} iterations")
    except ImportError:
        pass

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {ours_peak:.0f} MB before the comparisons, {peak:.0f} MB after")
    if args.write_docs:
        write_docs(args, labels, rows, ours_peak)


def write_docs(args, labels, rows, peak: float) -> None:
    command = "python bench/quality.py --write-docs"
    if args.repeat != 3 or args.resamples != 200:
        command = f"python bench/quality.py --repeat {args.repeat} --resamples {args.resamples} --write-docs"
    lines = [
        START_MARK,
        f"Last run: {datetime.date.today().isoformat()} on 2 cores (shared), Python "
        f"{platform.python_version()}, numpy {np.__version__}.",
        "",
        f"Command: `{command}`",
        "",
        f"Input: {labels.n_labels:,} labels on {labels.n_units:,} steps of {labels.n_chains:,} chains, "
        f"{labels.n_coders} annotators ({args.annotators} per chain).",
        "",
        f"| what | seconds (min–max of {args.repeat}) | target | result |",
        "| --- | ---: | --- | --- |",
    ]
    lines += [f"| {name} | {fmt(times)} | {verdict} | {shown} |" for name, times, verdict, shown in rows]
    lines += ["", f"Peak RSS with the labels, every measure and Dawid–Skene: {peak:.0f} MB (before the comparisons "
              "import pandas).", END_MARK]
    text = DOCS.read_text()
    if START_MARK in text and END_MARK in text:
        head, rest = text.split(START_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + "\n".join(lines) + tail
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    DOCS.write_text(text)
    print(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
