# Cython augmentation of leases.py (compiled as Python: no C types yet).
cimport cython
