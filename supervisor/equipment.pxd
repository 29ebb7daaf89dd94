# Cython augmentation of equipment.py: the usual sample's raw pump values read from the dict directly.
cimport cython

cpdef tuple _raw_flags_by_loop(dict values)
