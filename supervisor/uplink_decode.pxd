# Cython augmentation of uplink_decode.py: the usual sample's numbers checked on C doubles.
cimport cython

@cython.locals(limit=double, x=double)
cpdef bint _plain_numbers_by_loop(dict values) except -1
