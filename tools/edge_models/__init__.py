"""The networks in PyTorch and how they become ONNX: shared by the export tool and the bench.

archs (the networks), checkpoint (state_dicts), keras_h5 (fer's Keras weights), onnx_io and
graph_passes (writing the ONNX file and its metadata), quantize (the int8 recipe), rss (peak
memory of a fresh process), torch_rows (the bench's PyTorch rows), digest (sha256 of files).
torch is imported by the modules that need it, never by this one: `emotion-edge bench`
finds out whether the export extra is installed without importing it. Neither the export
command (edge_export) nor the bench (edge_daemon.bench) imports the other; both import this.
"""
