"""The package our layers are registered under for Keras serialization (`cnn_suite>Conv2D`)."""
import keras

PACKAGE = "cnn_suite"


def serializable(cls):
    """Register a layer class under PACKAGE, so `.keras` files and configs name it."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
