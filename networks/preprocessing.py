"""The input scaling each zoo network was trained with (keras.applications' modes), as one
function for arrays and tensors and as a Keras layer that puts it in the model's graph."""
import keras
import numpy as np

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "torch", "tf", "unit", "none")


def apply(mode, x):
    """Pixels 0..255 (N, ..., 3 for caffe/torch) -> the network's input.

    caffe: RGB -> BGR, minus the ImageNet mean per channel (VGG16, ResNet50, AlexNet);
    torch: 0..1, minus the mean, divided by the standard deviation per channel (DenseNet121);
    tf: -1..1 (InceptionV3); unit: 0..1 (the digit networks); none: unchanged.
    NumPy in, NumPy out (float32); a tensor in, a tensor out.
    """
    if mode not in MODES:
        raise ValueError(f"preprocessing mode '{mode}': expected one of {', '.join(MODES)}")
    array = isinstance(x, (np.ndarray, list, tuple, int, float))
    x = np.asarray(x, np.float32) if array else keras.ops.cast(x, "float32")
    if mode in ("caffe", "torch") and x.shape[-1] != 3:
        raise ValueError(f"{mode} preprocessing needs 3 colour channels, got {x.shape[-1]}")
    if mode == "caffe":
        bgr = x[..., ::-1] if array else keras.ops.flip(x, axis=-1)
        x = bgr - np.asarray(CAFFE_MEAN_BGR, np.float32)
    elif mode == "torch":
        x = (x / 255.0 - np.asarray(TORCH_MEAN, np.float32)) / np.asarray(TORCH_STD, np.float32)
    elif mode == "tf":
        x = x / 127.5 - 1.0
    elif mode == "unit":
        x = x / 255.0
    return np.asarray(x, np.float32) if array else x


@keras.saving.register_keras_serializable(package="networks")
class Preprocess(keras.layers.Layer):
    """`apply(mode, x * scale)` in the graph: pipelines feed images scaled to 0..1 (scale=255)."""

    def __init__(self, mode, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"preprocessing mode '{mode}': expected one of {', '.join(MODES)}")
        self.mode, self.scale = mode, float(scale)

    def call(self, inputs):
        return apply(self.mode, inputs * self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "scale": self.scale}
