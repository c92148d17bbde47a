"""`make bench`: every benchmark, each printing its ratios against a baseline measured in the same run.

`python -m bench collector metrics` runs only the named ones."""

from __future__ import annotations

import importlib
import sys

from .harness import asgi_server, setup_django

# Each is a module of this package with ``run()`` (or ``run(server)`` when it needs the ASGI server).
NAMES = ("metrics", "collector", "startall", "stopall", "migrateall", "vms", "fanout", "loglatency", "tasklog",
         "memory", "api")
NEEDS_SERVER = {"loglatency"}


def main(names: list[str]) -> None:
    unknown = set(names) - set(NAMES)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    setup_django()
    for name in names or NAMES:
        module = importlib.import_module(f"bench.{name}")
        if name in NEEDS_SERVER:
            with asgi_server() as server:
                lines = module.run(server)
        else:
            lines = module.run()
        for line in lines:
            print(line, flush=True)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
