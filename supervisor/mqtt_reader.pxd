# Cython augmentation of mqtt_reader.py (compiled as Python: no C types yet).
cimport cython
