"""The suite's earlier networks (digits, volumes) in the zoo's calling convention:
`(x, *, include_top, classes) -> outputs`, reusing their modules as they are."""
import keras

from networks import lenet, resnet, unet

TOP_LAYERS = (keras.layers.Flatten, keras.layers.GlobalAveragePooling1D,
              keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling3D,
              keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
              keras.layers.GlobalMaxPooling3D)


def _finish(x, logits, include_top):
    """Softmax `predictions` over the logits; without the top, the input of the first top
    layer (Flatten, global pooling or the `logits` layer): the features the head reads."""
    if include_top:
        return keras.layers.Activation("softmax", name="predictions")(logits)
    graph = keras.Model(x, logits)
    top = next(layer for layer in graph.layers
               if isinstance(layer, TOP_LAYERS) or layer.name == "logits")
    return top.input


def lecun1989(x, *, include_top=True, classes=10):
    return _finish(x, lenet.lecun1989(x, classes), include_top)


def lenet5(x, *, include_top=True, classes=10):
    return _finish(x, lenet.lenet5(x, classes), include_top)


def resnet3d(x, *, include_top=True, classes=2):
    return _finish(x, resnet.resnet3d(x, classes), include_top)


def unet3d(x, *, include_top=True, classes=3):
    return _finish(x, unet.unet3d(x, classes), include_top)
