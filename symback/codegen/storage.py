"""Workspace slots for the stored per-sample vectors: liveness and in-place reuse.

Stage: codegen. Input: a `Plan` (its ordered steps). Output: `Storage`, one
slot per stored value, where values whose lifetimes do not overlap share a
slot, as registers are allocated. Elementwise outputs may take the slot of
an input read for the last time in the same loop (``h = relu(f)`` overwrites
``f``; the ReLU mask ``dl/df = dl/dh * I[h > 0]`` overwrites ``dl/dh``), as
the hand kernel does; outputs of matrix products never alias their inputs.
Each layout maps slots to memory: a workspace offset (per sample), rows of
a transposed block (batch-innermost), or a ``(B, n)`` view (BLAS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .plan import Affine, Group, Plan, step_reads, step_writes


@dataclass
class Storage:
    slot: dict[str, int] = field(default_factory=dict)  # root value -> slot
    size: list[int] = field(default_factory=list)  # slot -> components

    def of(self, plan: Plan, name: str) -> int:
        return self.slot[plan.root(name)]


def allocate(plan: Plan, inputs: bool) -> Storage:
    """Slots for every stored value (and, if `inputs`, for the network inputs, copied in first)."""
    st = Storage()
    steps = plan.steps
    last: dict[str, int] = {}
    for k, step in enumerate(steps):
        for r in step_reads(step):
            last[plan.root(r)] = k
    free: dict[int, list[int]] = {}

    def new(n: int) -> int:
        pool = free.get(n)
        if pool:
            return pool.pop(0)
        st.size.append(n)
        return len(st.size) - 1

    if inputs:
        for name, _, n in plan.inputs:
            st.slot[name] = new(n)
    for k, step in enumerate(steps):
        dying_slots = {st.slot[r] for r in st.slot if last.get(r) == k}
        reusable = sorted(dying_slots) if isinstance(step, Group) else []
        written = step_writes(step)
        if isinstance(step, Affine):
            head = step.node
            st.slot[head] = new(step.size)  # the product's target (a temporary if not stored)
            if last.get(head, -1) <= k and head != plan.prediction:
                reusable = [st.slot[head]]
                dying_slots.add(st.slot[head])
            written = [w for w in written if w != head]
        taken = set()
        for w in written:
            n = plan.sizes[w]
            s = next((s for s in reusable if s not in taken and st.size[s] == n), None)
            if s is None:
                s = new(n)
            taken.add(s)
            st.slot[w] = s  # a stored value is read later (plan._mark_stored), so it is not free here
        for s in sorted(dying_slots - taken):
            free.setdefault(st.size[s], []).append(s)
    return st
