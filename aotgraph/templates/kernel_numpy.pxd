# aotgraph's numpy declarations for in-process kernel modules and their support extension: `cimport _aotgraph_numpy
# as cnp` in place of `cimport numpy as cnp`. numpy's own .pxd makes Cython parse ~1200 lines (and the cpython
# .pxds it cimports) for every module, ~40% of Cython's time on a kernel module, and puts ~120 KB of type-import
# and helper C into it (gcc time); kernels use a few dozen of its names. These are numpy's declarations of them,
# copied from numpy/__init__.cython-30.pxd (same C names and signatures, so a kernel compiles alike against both:
# modules built with ag.build still cimport numpy). A name a kernel needs that is missing here is a Cython error
# ("cimported module has no attribute"): add numpy's declaration of it.

cdef extern from "numpy/arrayobject.h":
    ctypedef signed long npy_intp
    ctypedef unsigned long npy_uintp
    ctypedef unsigned char npy_bool
    ctypedef signed char npy_byte
    ctypedef signed short npy_short
    ctypedef signed int npy_int
    ctypedef signed long npy_long
    ctypedef signed long long npy_longlong
    ctypedef unsigned char npy_ubyte
    ctypedef unsigned short npy_ushort
    ctypedef unsigned int npy_uint
    ctypedef unsigned long npy_ulong
    ctypedef unsigned long long npy_ulonglong
    ctypedef float npy_float
    ctypedef double npy_double
    ctypedef signed char npy_int8
    ctypedef signed short npy_int16
    ctypedef signed int npy_int32
    ctypedef signed long long npy_int64
    ctypedef unsigned char npy_uint8
    ctypedef unsigned short npy_uint16
    ctypedef unsigned int npy_uint32
    ctypedef unsigned long long npy_uint64
    ctypedef float npy_float32
    ctypedef double npy_float64

    ctypedef struct PyArray_Dims:
        npy_intp *ptr
        int len

    cdef enum NPY_TYPES:
        NPY_BOOL
        NPY_BYTE
        NPY_UBYTE
        NPY_SHORT
        NPY_USHORT
        NPY_INT
        NPY_UINT
        NPY_LONG
        NPY_ULONG
        NPY_LONGLONG
        NPY_ULONGLONG
        NPY_FLOAT
        NPY_DOUBLE
        NPY_LONGDOUBLE
        NPY_CFLOAT
        NPY_CDOUBLE
        NPY_CLONGDOUBLE
        NPY_OBJECT
        NPY_STRING
        NPY_UNICODE
        NPY_VOID
        NPY_DATETIME
        NPY_TIMEDELTA
        NPY_NTYPES_LEGACY
        NPY_NOTYPE
        NPY_INT8
        NPY_INT16
        NPY_INT32
        NPY_INT64
        NPY_UINT8
        NPY_UINT16
        NPY_UINT32
        NPY_UINT64
        NPY_FLOAT16
        NPY_FLOAT32
        NPY_FLOAT64
        NPY_COMPLEX64
        NPY_COMPLEX128
        NPY_INTP
        NPY_UINTP

    ctypedef struct PyArray_Descr:
        pass

    ctypedef class numpy.dtype [object PyArray_Descr, check_size ignore]:
        pass

    ctypedef struct PyArrayObject:
        pass

    ctypedef class numpy.ndarray [object PyArrayObject, check_size ignore]:
        @property
        cdef inline int ndim(self) noexcept nogil:
            return PyArray_NDIM(self)

        @property
        cdef inline npy_intp *shape(self) noexcept nogil:
            return PyArray_DIMS(self)

        @property
        cdef inline npy_intp *strides(self) noexcept nogil:
            return PyArray_STRIDES(self)

        @property
        cdef inline npy_intp size(self) noexcept nogil:
            return PyArray_SIZE(self)

        @property
        cdef inline char* data(self) noexcept nogil:
            return PyArray_BYTES(self)

    int import_array "_import_array"() except -1

    bint PyArray_CHKFLAGS(ndarray m, int flags) nogil
    bint PyArray_IS_C_CONTIGUOUS(ndarray arr) nogil
    bint PyArray_IS_F_CONTIGUOUS(ndarray arr) nogil
    bint PyArray_ISCONTIGUOUS(ndarray m) nogil
    bint PyArray_ISWRITEABLE(ndarray m) nogil
    bint PyArray_ISALIGNED(ndarray m) nogil
    bint PyArray_ISNOTSWAPPED(ndarray) nogil
    int PyArray_NDIM(ndarray) nogil
    void* PyArray_DATA(ndarray) nogil
    char* PyArray_BYTES(ndarray) nogil
    npy_intp* PyArray_DIMS(ndarray) nogil
    npy_intp* PyArray_STRIDES(ndarray) nogil
    npy_intp PyArray_DIM(ndarray, size_t) nogil
    npy_intp PyArray_STRIDE(ndarray, size_t) nogil
    int PyArray_FLAGS(ndarray) nogil
    npy_intp PyArray_ITEMSIZE(ndarray) nogil
    int PyArray_TYPE(ndarray arr) nogil
    npy_intp PyArray_SIZE(ndarray) nogil
    npy_intp PyArray_NBYTES(ndarray) nogil
    void* PyArray_GETPTR1(ndarray m, npy_intp i) nogil
    void* PyArray_GETPTR2(ndarray m, npy_intp i, npy_intp j) nogil
    bint PyArray_Check(object)
    bint PyArray_CheckExact(object)
    object PyArray_ZEROS(int nd, npy_intp* dims, int type, int fortran)
    object PyArray_EMPTY(int nd, npy_intp* dims, int type, int fortran)
    object PyArray_Cast(ndarray mp, int type_num)
    object PyArray_Transpose(ndarray, PyArray_Dims *)
    object PyArray_Copy(ndarray)
    ndarray PyArray_GETCONTIGUOUS(ndarray)
    object PyArray_FROM_OTF(object m, int type, int flags)
    dtype PyArray_DescrFromType(int)
