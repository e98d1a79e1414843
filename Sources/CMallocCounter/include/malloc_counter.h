// Counts heap allocations of the process that links this target (the micro-benchmarks only):
// malloc and its relatives are interposed and forwarded to glibc's own.
#ifndef BROKER_MALLOC_COUNTER_H
#define BROKER_MALLOC_COUNTER_H

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) so far.
unsigned long broker_allocations(void);

#endif
