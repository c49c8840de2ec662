"""catuvac.export: h-encoder + argmax of a categorical UVAC checkpoint → ONNX fp32 / int8, C99.

- :func:`catuvac.export.exporter.export_model` (CLI ``catuvac-export``): the export, the int8
  quantization and the verification report;
- :mod:`catuvac.export.graph`: the export-only torch module (BN folded, GRU written out);
- :mod:`catuvac.export.bench_latency`: decision latency, PyTorch vs ONNX Runtime fp32 / int8;
- the C target (``catuvac-export --c DIR``): :mod:`~catuvac.export.c_plan` (the int8 graph as an
  integer program), :mod:`~catuvac.export.c_codegen` (the C folder; fixed kernels in ``c_src/``),
  :mod:`~catuvac.export.c_reference` (the numpy integer reference), :mod:`~catuvac.export.c_target`
  (build, verify, measure) and :mod:`~catuvac.export.bench_c` (size / speed vs ORT int8).
"""
