"""The kernels the backbones call, one folder per op (linear_scan, selective_scan, causal_conv),
each with an interface.py: the autograd node, the public function and the one `resolve()` that
picks its backend. See docs/kernels.md."""
