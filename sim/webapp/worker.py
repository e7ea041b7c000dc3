"""The body of a run's worker process: replications in, tables out.

Kept apart from the web app's modules so that a worker imports only the model (a second or
two), not the server, the charts and the statistics.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from typing import Any

from sim.config import Scenario, ScenarioError
from sim.experiment import iter_replications


def work(
    app: int, scenarios: list[Scenario], seed: int, tasks: list[tuple[int, int]], out: Any
) -> None:
    """Run replication ``r`` of option ``i`` for each ``(i, r)`` task; put each one's tables,
    or the error that stopped it, on the ``out`` queue; stop when process ``app`` ends.

    Ctrl+C reaches every process of the terminal; the app, not the worker, decides what stops.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "posix":  # elsewhere os.kill(pid, 0) is not a harmless probe
        threading.Thread(target=_watch, args=(app,), daemon=True).start()
    for i, rep in tasks:
        try:
            tables = next(iter(iter_replications(scenarios[i], [rep], seed)))
        except ScenarioError as exc:
            out.put((i, rep, None, ("scenario", str(exc))))
            return
        except Exception:
            out.put((i, rep, None, ("error", traceback.format_exc())))
            return
        out.put((i, rep, tables, None))


def _watch(app: int) -> None:
    """End this process soon after the app's process ``app`` ends, however it ended (even by
    SIGKILL, which leaves the app no chance to stop its workers)."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(app, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its id taken by another user
            os._exit(1)


def seek(app: int, scenario: Scenario, goal: Any, settings: dict[str, Any], out: Any) -> None:
    """Run the recruitment-target solver (``sim.target.solve``) on ``scenario``; put
    ``("progress", runs)`` on ``out`` after each simulation and then ``("done", result)``, or
    ``("error", (kind, text))``; stop when process ``app`` ends."""
    from sim.target import solve

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "posix":
        threading.Thread(target=_watch, args=(app,), daemon=True).start()
    try:
        result = solve(scenario, goal, progress=lambda n: out.put(("progress", n)), **settings)
    except ScenarioError as exc:
        out.put(("error", ("scenario", str(exc))))
    except Exception:
        out.put(("error", ("error", traceback.format_exc())))
    else:
        out.put(("done", result))
