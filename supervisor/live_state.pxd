# Cython augmentation of live_state.py (compiled as Python: no C types yet).
cimport cython
