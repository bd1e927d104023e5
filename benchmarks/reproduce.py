"""The reproduction suite from the benchmarks folder: the same as ``genzoo reproduce`` (all its options).

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python benchmarks/reproduce.py gmmn --budget-minutes 7 \
        --data-dir /work/shared/data
    python benchmarks/reproduce.py --list
    python benchmarks/reproduce.py --render      # regenerate the BENCHMARKS.md section

Rows go to ``benchmarks/results/reproduce.jsonl``; see :mod:`genzoo.reproduce`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genzoo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
