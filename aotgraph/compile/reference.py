"""The numpy reference backend (mode FAST_COMPILE): run an ordered list of Apply nodes with each op's `perform`."""

from __future__ import annotations

from aotgraph.graph.basic import toposort
from aotgraph.graph.evaluate import assign_slots, run_node


def make_thunk(spec, function_label: str):
    """The FAST_COMPILE executor of a FunctionSpec: runs each node's numpy `perform` in order.

    Values die as soon as their last reader has run, so peak memory stays near
    what numpy's eager evaluation would use.
    """
    graph_inputs = spec.graph_inputs
    results = spec.results
    nodes = toposort(results)
    slots, constants = assign_slots(graph_inputs, results, nodes)
    n_fixed = len(graph_inputs) + len(constants)
    result_slots = [slots[id(v)] for v in results]
    keep = set(range(n_fixed)) | set(result_slots)
    last_use: dict[int, int] = {}
    for step, node in enumerate(nodes):
        for v in node.inputs:
            last_use[slots[id(v)]] = step
    plan = []
    for step, node in enumerate(nodes):
        dead = tuple(s for s in {slots[id(v)] for v in node.inputs} if last_use[s] == step and s not in keep)
        plan.append((node, [slots[id(v)] for v in node.inputs], [slots[id(v)] for v in node.outputs], dead,
                     f"{step} {node.op!r}"))
    tail = constants + [None] * (len(slots) - n_fixed)

    def thunk(values: list, profile=None) -> list:
        store = values + tail
        for node, ins, outs, dead, label in plan:
            if profile is not None:
                start = profile.clock()
            produced = run_node(node, [store[i] for i in ins])
            if profile is not None:
                profile.record_node(function_label, label, profile.clock() - start)
            for i, value in zip(outs, produced):
                store[i] = value
            for i in dead:
                store[i] = None
        return [store[i] for i in result_slots]

    return thunk
