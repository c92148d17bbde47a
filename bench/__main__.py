"""`make bench`: every benchmark, each printing its ratios against a baseline measured in the same run.

`python -m bench collector metrics` runs only the named ones."""

from __future__ import annotations

import sys

from .harness import asgi_server, setup_django

NAMES = ("metrics", "collector", "startall", "loglatency", "memory", "stopall")


def main(names: list[str]) -> None:
    unknown = set(names) - set(NAMES)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    setup_django()
    from . import collector, loglatency, memory, metrics, startall, stopall

    for name in names or NAMES:
        if name == "loglatency":
            with asgi_server() as server:
                lines = loglatency.run(server)
        else:
            lines = {"metrics": metrics, "collector": collector, "startall": startall, "memory": memory,
                     "stopall": stopall}[name].run()
        for line in lines:
            print(line, flush=True)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
