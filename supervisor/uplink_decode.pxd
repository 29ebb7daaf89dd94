# Cython augmentation of uplink_decode.py (compiled as Python: no C types yet).
cimport cython
