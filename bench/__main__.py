"""Run every benchmark module and print a summary plus one `BENCH name value unit` line each."""

import importlib
import pkgutil
import sys
import time

import bench


def main():
    """Import bench/bench_*.py, call run(), print the figures."""
    all_figures = []
    for module_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        started = time.perf_counter()
        figures = module.run()
        elapsed = time.perf_counter() - started
        print(f"\n{module_info.name} ({elapsed:.1f} s): {module.__doc__.strip()}")
        for name, value, unit in figures:
            print(f"  {name:<32} {value:>10} {unit}")
        all_figures.extend(figures)
    print()
    for name, value, unit in all_figures:
        print(f"BENCH {name} {value} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
