"""Reading a scanned practice sheet: from an image to its cells, each with what it expects.

Below both of its users (the worker's sheet task and the client side), importing neither, and
never TensorFlow (NumPy, SciPy and Pillow only): ``layout`` (what each cell expects), ``paper``
(a scan with its lighting divided out), ``geometry``, ``grid`` (finding the cell corners),
``cells`` (guides removed, blank cells told apart) and ``analysis`` (the three together).
"""
