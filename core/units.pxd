# Cython augmentation of units.py: typed signatures for the hot helpers.
# noexcept: comparisons only, nothing can raise (no exception check after each call)
cpdef double clamp(double value, double low, double high) noexcept
cpdef double lerp(double x, double x0, double y0, double x1, double y1)
cpdef double interp_table(double x, list xs, list ys)
cpdef double first_order(double previous, double target, double dt_s, double time_constant_s)
cpdef bint is_finite(double value)
