"""Explanations of any pipeline's model: which parts of an input drove a prediction.

`methods` holds the domain-free maths (Grad-CAM, saliency, SmoothGrad, integrated gradients)
over a model split in two callables; `stages` cuts a Keras model at the place a pipeline's maps
live (its served input, or a layer such as the text embedding) or at a convolution stage, from
the functional graph, so in-graph preprocessing is simply part of the front; `explainer` runs it
all for one model; `explain` is `cnn explain` on a run folder or an export. The drawing helpers
the domains' `render_explanation` hooks use are the framework's (pipelines/core/render.py).
"""

# The methods by their --method names (methods.py), here so that `cnn explain --help` needs no TensorFlow.
METHODS = ("gradcam", "saliency", "smoothgrad", "integrated-gradients")
