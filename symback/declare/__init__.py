"""Declare: the front ends, each turning what a user writes into the IR and its `Derivation`.

Stage: declare. Input: a scalar expression or named steps (`expression`, `gradient`'s
``grad``), a layered `network.Network` of `Dense` layers, or a `dag.DAG` of modules;
a SPEC path on the command line (`spec`). Output: an `ir.Graph` and, through
``derive()``, the `Derivation` every consumer reads. Front ends import the core,
never a consumer (render, check, teach, codegen).
"""
