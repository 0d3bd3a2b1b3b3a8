"""ProfileStats: per-node call counts and times, per-function totals (numpy-free, stdlib only)."""

from __future__ import annotations

import time


class ProfileStats:
    """Timing collected by functions compiled with `profile=True` (or given this object).

    Nodes are identified by a label such as "3 mul(x, y)"; several functions can
    share one ProfileStats, and `summary()` prints one table per function.
    """

    def __init__(self, message: str = ""):
        self.message = message
        self.fct_callcount: dict[str, int] = {}
        self.fct_calltime: dict[str, float] = {}
        self.node_callcount: dict[tuple[str, str], int] = {}
        self.node_time: dict[tuple[str, str], float] = {}
        self.clock = time.perf_counter

    def record_call(self, function_name: str, seconds: float) -> None:
        self.fct_callcount[function_name] = self.fct_callcount.get(function_name, 0) + 1
        self.fct_calltime[function_name] = self.fct_calltime.get(function_name, 0.0) + seconds

    def record_node(self, function_name: str, node_label: str, seconds: float) -> None:
        key = (function_name, node_label)
        self.node_callcount[key] = self.node_callcount.get(key, 0) + 1
        self.node_time[key] = self.node_time.get(key, 0.0) + seconds

    def summary(self, file=None, n_nodes: int = 20) -> str:
        """A readable table (also printed to `file` when given): functions, then their slowest nodes."""
        lines = [f"Profile{': ' + self.message if self.message else ''}"]
        for fname in sorted(self.fct_callcount):
            calls, total = self.fct_callcount[fname], self.fct_calltime[fname]
            lines.append(f"Function {fname!r}: {calls} calls, {total:.6f} s total, {total / calls * 1e6:.2f} us/call")
            nodes = sorted(
                ((t, label) for (f, label), t in self.node_time.items() if f == fname), reverse=True
            )[:n_nodes]
            node_total = sum(t for (f, _), t in self.node_time.items() if f == fname) or 1.0
            if nodes:
                lines.append(f"  {'time (s)':>10} {'%':>6} {'calls':>7}  node")
            for seconds, label in nodes:
                count = self.node_callcount[(fname, label)]
                lines.append(f"  {seconds:10.6f} {100 * seconds / node_total:5.1f}% {count:7d}  {label}")
        text = "\n".join(lines)
        if file is not None:
            print(text, file=file)
        return text

    def __repr__(self) -> str:
        return f"<ProfileStats {self.message!r}: {sum(self.fct_callcount.values())} calls>"
