"""``python -m device_bench PATH...``: benchmark on a device that has no edgerec CLI.

Prints a markdown table (progress goes to stderr) and, with ``--json FILE``,
writes ``{"environment": ..., "rows": [...]}`` (``--csv FILE``: flat rows). Exits 0 when the run
completes, even if some rows are errors (they are results); 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from device_bench import rows, run, table
from device_bench.runtime import RUNTIMES


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2. Received: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m device_bench", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="bundle folder or .tflite file")
    parser.add_argument("--threads", type=_int_list, default=[1], help="interpreter threads, e.g. 1,2,4")
    parser.add_argument("--batch", type=_int_list, default=[1], help="batch sizes, e.g. 1,32")
    parser.add_argument("--runs", type=int, default=100, help="minimum timed runs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="minimum timed wall-clock seconds")
    parser.add_argument("--runtime", choices=list(RUNTIMES), default=None, help="interpreter package (default: auto)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per configuration before it is killed")
    parser.add_argument("--xnnpack", choices=["on", "off"], default="on", help="allow the XNNPACK delegate")
    parser.add_argument("--reference-kernels", action="store_true",
                        help="run TFLite's reference kernels (slow; for interpreter builds whose optimized kernels crash)")
    parser.add_argument("--cpus", type=_int_list, default=None, help="pin runs to these CPU ids, e.g. 0,1 (Linux)")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the eval-set pass")
    parser.add_argument("--reference", help="artifact to compare rankings with (default: student.tflite beside each)")
    parser.add_argument("--baseline", help="artifact file name for the table's ratio columns")
    parser.add_argument("--json", metavar="FILE", help="write environment and rows as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write rows as flat CSV")
    return parser


def _report_progress(row: dict) -> None:
    print(f"{row['artifact']} threads={row['threads']} batch={row['batch']}: {row['status']}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark the command line describes; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        results = run.bench(
            args.paths,
            threads=args.threads,
            batches=args.batch,
            runs=args.runs,
            warmup=args.warmup,
            min_seconds=args.min_seconds,
            runtime=args.runtime,
            timeout=args.timeout,
            accuracy=not args.no_accuracy,
            progress=_report_progress,
            xnnpack=args.xnnpack == "on",
            reference_kernels=args.reference_kernels,
            cpus=args.cpus,
            reference=args.reference,
        )
    except run.BenchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table.markdown(results, args.baseline))
    if args.json:
        rows.write_json(args.json, table.environment(), results)
    if args.csv:
        rows.write_csv(args.csv, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
