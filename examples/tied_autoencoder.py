"""An autoencoder with tied weights: the decoder uses W_enc^T."""

import symback as sb

ae = sb.DAG("tied_autoencoder")
x = ae.input("x", 5)
W = ae.param("W_enc", (3, 5))
b_enc, b_dec = ae.param("b_enc", 3), ae.param("b_dec", 5)
code = ae.map("code", ae.linear("enc", W, x, b_enc), "sigmoid")
ae.loss(ae.linear("xhat", sb.DAG.T(W), code, b_dec), "mse")
