"""Explanations of any pipeline's model: which parts of an input drove a prediction.

`methods` holds the domain-free maths (Grad-CAM, saliency, SmoothGrad, integrated gradients)
over a model split in two callables; `splits` cuts a Keras model at the place a pipeline's maps
live (its served input, or a layer such as the text embedding) or at a convolution stage, from
the functional graph, so in-graph preprocessing is simply part of the front; `render` has the
drawing helpers the domains' `render_explanation` hooks use; `explain_files` runs it all for
`cnn explain` on a run folder (serving/explain.py does exports).
"""
