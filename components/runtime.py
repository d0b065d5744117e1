"""Process settings for evaluating the program: under the engine (`__main__.py`) and under the
offline tools' mock runtime (`stacks.tools.inventory.run_program`) alike.

A stack registers thousands of objects that live as long as the program (resources, Outputs,
options, component args). CPython's default first collection threshold (700 allocations) runs the
cyclic garbage collector hundreds of times per thousand resources, and its older generations walk
the growing set of live objects, so the cost per resource grew with the size of the stack
(bench/teams/run.py: 1.49x per resource from 10 to 100 teams). Collecting a seventieth as often
keeps the collector on, frees cycles as before, and keeps the cost per resource flat.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
