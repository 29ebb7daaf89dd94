# Cython augmentation of leases.py: the usual sample's lease check read from the dict directly.
cimport cython

cpdef bint _any_left_by_loop(dict values) except -1
