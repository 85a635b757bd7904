/* The C standard streams, defined again inside libvelum.so for Debian's libwabt.a, which is
 * built without -fPIC: its references to stdin/stdout/stderr cannot bind to glibc's from a
 * shared object, so the linker binds them (and every other use in the library) to these
 * hidden copies, which point at glibc's very FILE objects. */
#include <stdio.h>

extern FILE _IO_2_1_stdin_, _IO_2_1_stdout_, _IO_2_1_stderr_;

__attribute__((visibility("hidden"))) FILE* stdin = &_IO_2_1_stdin_;
__attribute__((visibility("hidden"))) FILE* stdout = &_IO_2_1_stdout_;
__attribute__((visibility("hidden"))) FILE* stderr = &_IO_2_1_stderr_;
