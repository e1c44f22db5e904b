"""FoML, "backprop beyond MLPs": a DAG whose weight w1 is used twice.

    x1 = phi1(x0; w1)        = tanh(w1 x0)
    x2 = phi2(x0, x1; w2)    = sigmoid(w2 [x0; x1])
    f  = x3 = phi3(x1, x2; w1) = w1 (x1 ⊙ x2)

dl/dx1 sums the paths through x3 and x2; dl/dw1 sums its two uses.
"""

import symback as sb

dag = sb.DAG("foml_dag")
x0 = dag.input("x0", 3)
w1 = dag.param("w1", (3, 3))
w2 = dag.param("w2", (3, 6))
x1 = dag.map("x1", dag.linear("s1", w1, x0), "tanh")
x2 = dag.map("x2", dag.linear("s2", w2, dag.concat("c", x0, x1)), "sigmoid")
x3 = dag.linear("x3", w1, dag.mul("m", x1, x2))
dag.loss(x3, "mse")
