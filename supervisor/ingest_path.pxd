# Cython augmentation of ingest_path.py: a telemetry sample's numbers converted and checked on C doubles.
cimport cython

@cython.locals(total=double, x=double, numbers=list)
cpdef tuple _numbers_by_loop(dict values, double ts)
