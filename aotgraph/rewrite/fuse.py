"""fuse: every connected region of elementwise ops becomes ONE node, and a region feeding a reduction becomes
one node with the reduction (see fusedop.py for the ops it makes).

    a*b + c*exp(-a) - a/(1+b*b)          ->  fused{((i0 * i1) + (i2 * exp(-i0))) - (i0 / (i3 + sqr(i1)))}
    sum(sqr(a - b))                      ->  fused_reduce{sqr((i0 - i1)), reduce{kind='sum', ...}}

The steps, each a plain function below:

1. `elemwise_forms`: `unreduce(g, like)` (the gradient of a sum) becomes `second(like, g)` with g's reduced axes
   restored as broadcastable ones: an elementwise op, so it fuses with what it feeds instead of writing an
   array of like's size. Ops that read a value only for its shape (second's first operand, reduced_count, as in
   mean = sum / count) read instead a value it is computed from with the same broadcast pattern (so the
   same shape), computed outside the elementwise region: the region's value is then read by its reduction
   alone, and fuses with it.
2. `find_regions`: walking the nodes from the outputs up, an elementwise node joins the region of its consumers
   when all its consumers are in that one region and its value is not a result of the graph; a cheap node
   reading at most one array (x + 1, dot(x, w) + b) whose consumers are in several regions joins each of them
   (it is recomputed in each loop instead of being stored and read back). A node whose value is smaller than
   the region's loop (it broadcasts into it) joins too, unless it is an expensive op (exp, log, ...) that would
   be recomputed for every element of the loop: only when the loop can hoist it (its value does not vary along
   the loop's last axis) does it join. A `reduce` whose operand is computed by an elementwise node used nowhere
   else starts a region of its own (a reduction region).
3. `group_siblings`: elementwise regions with the same loop shape that read the same values (or a subset of
   another region's values) become one node with several outputs: one loop reads the operands once.
4. `rebuild`: the new graph, one node per group, in a topological order of the groups.

A region of one elementwise node stays that node (the backend renders it as a loop of one statement).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from aotgraph.graph.basic import Apply, Variable, toposort
from aotgraph.graph.rules import rule_of
from aotgraph.rewrite.engine import run_pass, same_or_finer
from aotgraph.tensor.fused import ScalarProgram, fused_op
from aotgraph.tensor.reduction import KINDS, reduced_count
from aotgraph.tensor.shape_ops import dimshuffle, second

MAX_STATEMENTS = 512  # a loop body larger than this starts a new region (compile time grows with the body)
_MAX_SEARCH = 4000  # nodes a dependency search visits before it gives up (and answers "may depend")


def fuse(outputs: Sequence[Variable]) -> list[Variable]:
    """New outputs computing `outputs`, each elementwise region (and region + reduction) one node."""
    outputs = elemwise_forms(list(outputs))
    nodes = toposort(outputs)
    regions = find_regions(nodes, outputs)
    groups = group_siblings(nodes, regions, subsets=True)
    if all(len(g) == 1 and len(g[0].members) == 1 and g[0].kind == "elemwise" for g in groups):
        return outputs  # nothing to fuse
    order = unit_order(nodes, groups)
    if order is None:  # merging subsets made two groups depend on each other: merge equal leaf sets only
        groups = group_siblings(nodes, regions, subsets=False)
        order = unit_order(nodes, groups)
    return rebuild(outputs, nodes, groups, order)


def is_elemwise(node: Apply) -> bool:
    return rule_of(node.op).elemwise is not None


def expensive(node: Apply) -> bool:
    """An elementwise op costing tens of cycles per element (its registration says so): worth recomputing per
    element of a larger loop only when hoisted."""
    info = rule_of(node.op).elemwise
    return info is not None and info.expensive


# ---- 1. elementwise forms ----------------------------------------------------------------------------------


SHAPE_READERS = frozenset({"unreduce", "reduced_count", "second"})


def elemwise_forms(outputs: list[Variable]) -> list[Variable]:
    """unreduce(g, like) -> second(like, g'), g' being g with its reduced axes back (as broadcastable); the
    shape-only operands of second and reduced_count taken from outside elementwise regions."""
    if not any(node.op.name in SHAPE_READERS for node in toposort(outputs)):
        return outputs
    return run_pass(outputs, _elemwise_form)


def _elemwise_form(node: Apply) -> list[Variable] | None:
    name = node.op.name
    if name == "unreduce":
        g, like = node.inputs
        # g's reduced axes come back as broadcastable ones; leading ones need no dimshuffle (numpy broadcasting
        # adds them), so the sum over all axes (a rank-0 g) broadcasts as it is
        first_kept = min((a for a in range(like.ndim) if a not in node.op.axis), default=like.ndim)
        if not node.op.keepdims and any(a > first_kept for a in node.op.axis):
            kept = iter(range(g.ndim))
            pattern = ["x" if a in node.op.axis else next(kept) for a in range(like.ndim)]
            g = dimshuffle(g, tuple(pattern[first_kept:]))
        new = second(shape_source(like), g)
    elif name == "second" and shape_source(node.inputs[0]) is not node.inputs[0]:
        new = second(shape_source(node.inputs[0]), node.inputs[1])
    elif name == "reduced_count" and shape_source(node.inputs[0]) is not node.inputs[0]:
        new = reduced_count(shape_source(node.inputs[0]), node.op.axis, node.op.dtype)
    else:
        return None
    return [new] if same_or_finer(node.outputs[0], new) else None


def shape_source(x: Variable, limit: int = 64) -> Variable:
    """A value of x's shape that an elementwise region computing x reads (x when there is none): x's
    broadcast pattern is that of every operand it is computed from that has the same pattern."""
    pattern = x.type.broadcastable
    stack, seen = [x], set()
    while stack and len(seen) < limit:
        v = stack.pop(0)
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v is not x and v.type.broadcastable == pattern and (v.owner is None or not is_elemwise(v.owner)):
            return v
        if v.owner is not None and is_elemwise(v.owner):
            stack.extend(v.owner.inputs)
    return x


# ---- 2. regions ----------------------------------------------------------------------------------------------


@dataclass
class Region:
    """Nodes (indices into the toposorted nodes, ascending) computed by one loop; `root` is the last one."""

    root: int
    kind: str  # 'elemwise' or 'reduce' (the root is then the reduce node)
    loop: object  # the TensorType of the loop: the root's value, or the reduced operand
    members: list[int] = field(default_factory=list)
    size: int = 1  # nodes joined so far (while regions are found)


def _clients(nodes: list[Apply]) -> dict[int, list[int]]:
    clients: dict[int, list[int]] = {}
    for index, node in enumerate(nodes):
        for v in node.inputs:
            clients.setdefault(id(v), []).append(index)
    return clients


def _pattern(t, ndim: int) -> tuple:
    """The broadcastable flags of type `t` right-aligned to `ndim` axes (missing leading axes broadcast)."""
    return (True,) * (ndim - t.ndim) + t.broadcastable


def fits(node: Apply, loop) -> bool:
    """Whether elementwise `node` may be computed inside a loop over `loop` (a TensorType)."""
    out = node.outputs[0].type
    if _pattern(out, loop.ndim) == loop.broadcastable:
        return True
    if not expensive(node):
        return True
    return out.ndim == 0 or out.shape[-1] == 1 or loop.shape[-1] == 1  # hoisted out of the innermost loop


def _reduction_root(node: Apply, clients: dict[int, list[int]], results: set[int], index: int) -> bool:
    """A reduce whose operand is computed, for it alone, by an elementwise node: fused with that region."""
    if node.op.name != "reduce" or node.op.kind not in KINDS or not node.op.axis:
        return False
    x = node.inputs[0]
    if x.owner is None or not is_elemwise(x.owner) or id(x) in results:
        return False
    return all(c == index for c in clients.get(id(x), [])) or duplicable(x.owner)


def find_regions(nodes: list[Apply], outputs: Sequence[Variable]) -> list[Region]:
    """The regions of the graph, ordered by root; every elementwise node is in one region, or in several when it
    is cheap to recompute in each (`duplicable`)."""
    clients = _clients(nodes)
    results = {id(v) for v in outputs}
    regions_of: dict[int, list[Region]] = {}
    for index in reversed(range(len(nodes))):
        node = nodes[index]
        if _reduction_root(node, clients, results, index):
            regions_of[index] = [Region(index, "reduce", node.inputs[0].type)]
            continue
        if not is_elemwise(node):
            continue
        out = node.outputs[0]
        users = clients.get(id(out), [])
        joined = _regions_to_join(node, users, regions_of) if id(out) not in results else []
        regions_of[index] = joined or [Region(index, "elemwise", out.type)]
    found: dict[int, Region] = {}
    for index in sorted(regions_of):
        for region in regions_of[index]:
            region.members.append(index)
            found[id(region)] = region
    return sorted(found.values(), key=lambda r: r.root)


def _regions_to_join(node: Apply, users: list[int], regions_of: dict[int, list[Region]]) -> list[Region]:
    """The regions elementwise `node` is computed in: its consumers' region when they are all in one, or each of
    its consumers' regions when it is `duplicable`; none (it becomes a region's root) otherwise."""
    if not users or any(u not in regions_of for u in users):
        return []
    regions = list({id(r): r for u in users for r in regions_of[u]}.values())
    if not all(fits(node, r.loop) and r.size < MAX_STATEMENTS for r in regions):
        return []
    if len(regions) > 1 and not duplicable(node):
        return []
    for r in regions:
        r.size += 1
    return regions


def duplicable(node: Apply) -> bool:
    """Cheap to compute again in every loop that reads it (instead of storing it once and reading it back):
    a cheap op reading at most one array (x + 1, -y, dot(x, w) + b)."""
    return not expensive(node) and sum(1 for v in node.inputs if v.type.ndim > 0) <= 1


# ---- 3. sibling regions share one loop ------------------------------------------------------------------


def _leaves(nodes: list[Apply], region: Region) -> list[Variable]:
    """The values a region reads from outside (in order of first use, each once)."""
    inside = {id(nodes[i].outputs[0]) for i in region.members}
    found: dict[int, Variable] = {}
    for i in region.members:
        for v in nodes[i].inputs:
            if id(v) not in inside:
                found.setdefault(id(v), v)
    return list(found.values())


def group_siblings(nodes: list[Apply], regions: list[Region], subsets: bool) -> list[list[Region]]:
    """Regions grouped into loops: elementwise regions over the same loop shape whose values read are equal
    (or, with `subsets`, contained in another group's and not computed from that group's results)."""
    position = {id(node): i for i, node in enumerate(nodes)}
    groups: list[list[Region]] = []
    by_leaves: dict[tuple, list[Region]] = {}
    by_leaf: dict[tuple, list[list[Region]]] = {}
    leaves_of: dict[int, frozenset] = {}
    for region in regions:
        leaves = _leaves(nodes, region)
        if region.kind != "elemwise":
            groups.append([region])
            continue
        key = (region.loop.broadcastable, frozenset(id(v) for v in leaves))
        group = by_leaves.get(key)
        if group is None and subsets and leaves:
            group = _superset_group(region, leaves, by_leaf, leaves_of, nodes, position)
        if group is None:
            group = [region]
            groups.append(group)
            by_leaves[key] = group
            leaves_of[id(group)] = key[1]
            for v in leaves:
                by_leaf.setdefault((region.loop.broadcastable, id(v)), []).append(group)
        else:
            group.append(region)
    return groups


def _superset_group(region: Region, leaves: list[Variable], by_leaf: dict, leaves_of: dict, nodes: list[Apply],
                    position: dict[int, int]) -> list[Region] | None:
    """A group (made before `region`) reading every value `region` reads, none of them computed from region."""
    mine = frozenset(id(v) for v in leaves)
    for group in by_leaf.get((region.loop.broadcastable, id(leaves[0])), [])[:8]:
        theirs = leaves_of[id(group)]
        if not mine <= theirs:
            continue
        producers = [v.owner for g in group for v in _leaves(nodes, g) if v.owner is not None]
        if not depends_on(producers, region.root, nodes, position):
            return group
    return None


def depends_on(starts: list[Apply], target: int, nodes: list[Apply], position: dict[int, int],
               limit: int | None = None) -> bool:
    """Whether any node of `starts` is node `target` (an index into `nodes`) or computed from it.

    The search visits at most `limit` nodes (default _MAX_SEARCH); beyond that it answers True when called
    with the default (the safe answer for merging) and False with an explicit limit (safe for in-place)."""
    stack = [n for n in starts if position[id(n)] >= target]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        index = position[id(node)]
        if index == target:
            return True
        if index in seen:
            continue
        seen.add(index)
        if len(seen) > (limit or _MAX_SEARCH):
            return limit is None
        stack.extend(v.owner for v in node.inputs if v.owner is not None and position[id(v.owner)] >= target)
    return False


# ---- 4. the new graph --------------------------------------------------------------------------------------


def unit_order(nodes: list[Apply], groups: list[list[Region]]) -> list[int] | None:
    """The units of the new graph in a topological order: unit g < len(groups) is group g, unit len(groups) + j
    the j-th node outside every region; None when the groups depend on each other in a cycle."""
    unit_of: dict[int, int] = {}  # the unit computing each node's value (a node recomputed in several: any)
    units: list[list[int]] = []
    for group in groups:
        for region in group:
            for i in region.members:
                unit_of[i] = len(units)
        units.append(sorted({i for region in group for i in region.members}))
    for i in range(len(nodes)):
        if i not in unit_of:
            unit_of[i] = len(units)
            units.append([i])
    position = {id(node): i for i, node in enumerate(nodes)}
    deps: list[set[int]] = [set() for _ in units]
    for u, members in enumerate(units):
        inside = set(members)
        for i in members:
            for v in nodes[i].inputs:
                if v.owner is not None and position[id(v.owner)] not in inside:  # a stored value: one unit has it
                    deps[u].add(unit_of[position[id(v.owner)]])
    users: list[list[int]] = [[] for _ in units]
    for u, ds in enumerate(deps):
        for d in ds:
            users[d].append(u)
    waiting = [len(ds) for ds in deps]
    ready = [(units[u][0], u) for u in range(len(units)) if waiting[u] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for w in users[u]:
            waiting[w] -= 1
            if waiting[w] == 0:
                heapq.heappush(ready, (units[w][0], w))
    return order if len(order) == len(units) else None


def rebuild(outputs: list[Variable], nodes: list[Apply], groups: list[list[Region]],
            order: list[int]) -> list[Variable]:
    """The graph with each group of regions replaced by one fused node (nodes outside regions copied)."""
    covered = {i for group in groups for r in group for i in r.members}
    outside = [i for i in range(len(nodes)) if i not in covered]
    memo: dict[int, Variable] = {}

    def new(v: Variable) -> Variable:
        return memo.get(id(v), v)

    for u in order:
        group = groups[u] if u < len(groups) else None
        if group is None or (len(group) == 1 and len(group[0].members) == 1):  # a node as it is
            node = nodes[outside[u - len(groups)] if group is None else group[0].root]
            copy = Apply(node.op, [new(v) for v in node.inputs], [o.type for o in node.outputs], trace=node.trace)
            for old, made in zip(node.outputs, copy.outputs):
                made.name = old.name
                memo[id(old)] = made
            continue
        for old, made in zip(_roots(nodes, group), _fused_node(nodes, group, new)):
            memo[id(old)] = made
    return [new(v) for v in outputs]


def _roots(nodes: list[Apply], group: list[Region]) -> list[Variable]:
    return [nodes[r.root].outputs[0] for r in group]


def _fused_node(nodes: list[Apply], group: list[Region], new) -> list[Variable]:
    """One node computing the roots of `group`'s regions (the reduction's result for a reduction region)."""
    members = sorted({i for r in group for i in r.members})
    reduce = nodes[group[0].root] if group[0].kind == "reduce" else None
    if reduce is not None:
        members.remove(group[0].root)
    refs: dict[int, str] = {}
    leaves: list[Variable] = []
    stmts = []
    for i in members:
        args = []
        for v in nodes[i].inputs:
            if id(v) not in refs:
                refs[id(v)] = f"i{len(leaves)}"
                leaves.append(v)
            args.append(refs[id(v)])
        refs[id(nodes[i].outputs[0])] = f"t{len(stmts)}"
        stmts.append((nodes[i].op, tuple(args)))
    roots = [reduce.inputs[0]] if reduce is not None else _roots(nodes, group)
    program = ScalarProgram(tuple(stmts), tuple(refs[id(v)] for v in roots), tuple(v.type for v in leaves))
    op = fused_op(program, reduce=None if reduce is None else reduce.op)
    last = reduce if reduce is not None else nodes[group[-1].root]
    made_roots = [reduce.outputs[0]] if reduce is not None else roots
    node = Apply(op, [new(v) for v in leaves], [v.type for v in made_roots], trace=last.trace)
    for old, made in zip(made_roots, node.outputs):
        made.name = old.name
    return node.outputs
