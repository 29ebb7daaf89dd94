# Cython augmentation of aggregates.py: the fold of held rows on C doubles.
cimport cython

@cython.locals(agg=dict, n=Py_ssize_t, width=Py_ssize_t, j=Py_ssize_t, i=Py_ssize_t, start=Py_ssize_t,
               first=double, low=double, high=double, total=double, v=double, a=tuple, row=tuple)
cpdef _fold_loops(dict slice_agg, tuple key, tuple fields, list rows)
