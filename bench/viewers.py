"""Websocket viewers of one task's log in a process of their own (``python -m bench.viewers URL COOKIE ORIGIN N``):
so that the bench's own decoding of every message at every viewer is not counted as the server's delay. Prints
``ready`` once its N sockets are open, then, when the task has ended, one JSON line: for each line number the
arrival times (time.monotonic, the system's clock shared by every process) at each socket."""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def _watch(url: str, cookie: str, origin: str, count: int) -> dict[int, list[float]]:
    import websockets

    sockets = [await websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": origin},
                                        open_timeout=60) for _ in range(count)]
    print("ready", flush=True)
    arrivals: dict[int, list[float]] = {}

    async def view(socket) -> None:  # noqa: ANN001
        async for raw in socket:
            now = time.monotonic()
            message = json.loads(raw)
            if message["type"] == "line":
                arrivals.setdefault(message["n"], []).append(now)
            elif message["type"] == "status" and message["task"]["status"] == "ok":
                break

    await asyncio.gather(*(view(socket) for socket in sockets))
    await asyncio.gather(*(socket.close() for socket in sockets))
    return arrivals


def main(url: str, cookie: str, origin: str, count: str) -> None:
    arrivals = asyncio.run(_watch(url, cookie, origin, int(count)))
    print(json.dumps(arrivals), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
