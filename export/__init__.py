"""catuvac.export: h-encoder + argmax of a categorical UVAC checkpoint → ONNX fp32 / int8.

- :func:`catuvac.export.exporter.export_model` (CLI ``catuvac-export``): the export, the int8
  quantization and the verification report;
- :mod:`catuvac.export.graph`: the export-only torch module (BN folded, GRU written out);
- :mod:`catuvac.export.bench_latency`: decision latency, PyTorch vs ONNX Runtime fp32 / int8.
"""
