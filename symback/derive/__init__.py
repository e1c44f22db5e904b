"""Derive: reverse mode over the IR (`sweep`), then the textbook and stable rewrites (`simplify`).

Stage: derive. Input: a forward `ir.Graph`, its output and the leaves to differentiate
by. Output: the graph followed by one adjoint node per quantity (`sweep.reverse`:
upstream x local, each local derivative SymPy's, gradients adding at branches), and
the rewritten, fused and pruned graph (`simplify`) that `derivation.Derivation` keeps
beside the raw one.
"""
