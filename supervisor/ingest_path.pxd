# Cython augmentation of ingest_path.py (compiled as Python: no C types yet).
cimport cython
