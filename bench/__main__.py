"""`make bench`: every benchmark, each printing its ratios against a baseline measured in the same run."""

from __future__ import annotations

from .harness import asgi_server, setup_django


def main() -> None:
    setup_django()
    from . import loglatency, metrics, startall

    for line in metrics.run():
        print(line, flush=True)
    print()
    for line in startall.run():
        print(line, flush=True)
    print()
    with asgi_server() as server:
        for line in loglatency.run(server):
            print(line, flush=True)


if __name__ == "__main__":
    main()
