# Cython augmentation of equipment.py (compiled as Python: no C types yet).
cimport cython
