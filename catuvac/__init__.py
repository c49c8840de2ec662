"""catuvac: categorical unsupervised variational acoustic clustering for hearing-aid scene switching.

Sub-packages (installed from the top-level folders of the repository):

- ``catuvac.runtime``      – audio input, the log-mel front-end, the streaming ONNX clusterer (numpy + onnxruntime, no torch)
- ``catuvac.firmware_sim`` – a simulated hearing-aid DSP chain whose profile the runtime selects
- ``catuvac.training``     – datasets, Cat. UVAC / UVAC / K-means, metrics, checkpoints (torch)
- ``catuvac.export``       – h-encoder + argmax to fp32 / int8 ONNX
"""

__version__ = "0.1.0"
