/* 2-D five-point Jacobi stencil on an n x n grid for t steps (doubles), tunable by macros.
 *
 * -DNAIVE=1 builds the plain loop nest: for each step, for each row, for each column,
 * then swap the two grids.
 * Otherwise TIME_BLOCK steps are fused into one pass over the rows (pipelined temporal
 * blocking: stage s updates row r - s to step s + 1 right after stage s - 1 produced the
 * rows it reads), which keeps the rows in flight in cache instead of streaming the whole
 * grid from memory once per step; the column loop is unrolled UNROLL times.
 *
 * Every grid point is computed by the same expression in the same order in all
 * variants, so results are bit-identical and the checksums can be compared exactly.
 *
 * Usage: stencil [n] [t]   prints time_s=..., checksum=..., probe=..., sumsq=...
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef NAIVE
#define NAIVE 0
#endif
#ifndef TIME_BLOCK
#define TIME_BLOCK 4
#endif
#ifndef UNROLL
#define UNROLL 1
#endif

#define PRAGMA_(x) _Pragma(#x)
#define PRAGMA(x) PRAGMA_(x)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static inline void row_update(int n, const double *restrict up, const double *restrict mid,
                              const double *restrict down, double *restrict out) {
    PRAGMA(GCC unroll UNROLL)
    for (int j = 1; j < n - 1; j++)
        out[j] = 0.25 * ((up[j] + down[j]) + (mid[j - 1] + mid[j + 1]));
}

/* Runs t steps; returns the grid holding the final values. */
static double *jacobi(int n, int t, double *a, double *b) {
#if NAIVE
    for (int s = 0; s < t; s++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                b[(size_t)i * n + j] = 0.25 * ((a[(size_t)(i - 1) * n + j] + a[(size_t)(i + 1) * n + j]) +
                                               (a[(size_t)i * n + j - 1] + a[(size_t)i * n + j + 1]));
        double *tmp = a;
        a = b;
        b = tmp;
    }
    return a;
#else
    double *grid[2] = {a, b};
    int done = 0;
    while (done < t) {
        const int tb = (t - done) < TIME_BLOCK ? (t - done) : TIME_BLOCK;
        /* level s (0..tb) of this block lives in grid[(done + s) % 2]; stage s reads level s
           and writes level s + 1 of row i - s */
        for (int i = 1; i < n - 1 + tb - 1; i++)
            for (int s = 0; s < tb; s++) {
                const int r = i - s;
                if (r < 1 || r > n - 2)
                    continue;
                const double *src = grid[(done + s) % 2];
                double *dst = grid[(done + s + 1) % 2];
                row_update(n, src + (size_t)(r - 1) * n, src + (size_t)r * n, src + (size_t)(r + 1) * n,
                           dst + (size_t)r * n);
            }
        done += tb;
    }
    return grid[done % 2];
#endif
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    int t = argc > 2 ? atoi(argv[2]) : 16;
    if (n < 3 || t < 1) {
        fprintf(stderr, "need n >= 3 and t >= 1\n");
        return 2;
    }
    double *a = malloc(sizeof(double) * (size_t)n * n);
    double *b = malloc(sizeof(double) * (size_t)n * n);
    if (!a || !b) {
        fprintf(stderr, "out of memory\n");
        return 3;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = ((i * 31 + j * 17) % 101) * 0.01;
    memcpy(b, a, sizeof(double) * (size_t)n * n); /* boundaries equal in both grids */
    double t0 = now();
    double *u = jacobi(n, t, a, b);
    double t1 = now();
    double checksum = 0.0, probe = 0.0, sumsq = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            checksum += u[(size_t)i * n + j];
            probe += u[(size_t)i * n + j] * ((i + 3 * j) % 5 + 1);
            sumsq += u[(size_t)i * n + j] * u[(size_t)i * n + j];
        }
    printf("time_s=%.9f\nchecksum=%.17g\nprobe=%.17g\nsumsq=%.17g\n", t1 - t0, checksum, probe, sumsq);
    free(a);
    free(b);
    return 0;
}
