/* Dense matrix multiply C = A * B (n x n, doubles), tunable by macros.
 *
 * -DNAIVE=1 builds the plain textbook loop nest (i, j, k; no tiling, no unrolling).
 * Otherwise the loops are tiled by TILE_I x TILE_J x TILE_K, the innermost loop is
 * unrolled UNROLL times, and LOOP_ORDER picks the order inside a tile (0: i-k-j, the
 * innermost loop streaming over rows of B and C; 1: i-j-k with a scalar accumulator).
 *
 * The inputs are small multiples of 1/4, so every product and every partial sum is
 * exact in double precision: all loop orders give bit-identical results, and the
 * printed checksums can be compared exactly.
 *
 * Usage: matmul [n]   prints time_s=..., checksum=..., probe=..., sumsq=...
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef NAIVE
#define NAIVE 0
#endif
#ifndef TILE_I
#define TILE_I 32
#endif
#ifndef TILE_J
#define TILE_J 256
#endif
#ifndef TILE_K
#define TILE_K 64
#endif
#ifndef UNROLL
#define UNROLL 1
#endif
#ifndef LOOP_ORDER
#define LOOP_ORDER 0
#endif

#define PRAGMA_(x) _Pragma(#x)
#define PRAGMA(x) PRAGMA_(x)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void matmul(int n, const double *restrict A, const double *restrict B, double *restrict C) {
#if NAIVE
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < n; k++)
                s += A[(size_t)i * n + k] * B[(size_t)k * n + j];
            C[(size_t)i * n + j] = s;
        }
#else
    memset(C, 0, sizeof(double) * (size_t)n * n);
    for (int ii = 0; ii < n; ii += TILE_I)
        for (int kk = 0; kk < n; kk += TILE_K)
            for (int jj = 0; jj < n; jj += TILE_J) {
                const int ie = MIN(ii + TILE_I, n), ke = MIN(kk + TILE_K, n), je = MIN(jj + TILE_J, n);
#if LOOP_ORDER == 0
                for (int i = ii; i < ie; i++)
                    for (int k = kk; k < ke; k++) {
                        const double a = A[(size_t)i * n + k];
                        double *restrict c = C + (size_t)i * n;
                        const double *restrict b = B + (size_t)k * n;
                        PRAGMA(GCC unroll UNROLL)
                        for (int j = jj; j < je; j++)
                            c[j] += a * b[j];
                    }
#else
                for (int i = ii; i < ie; i++)
                    for (int j = jj; j < je; j++) {
                        double s = C[(size_t)i * n + j];
                        PRAGMA(GCC unroll UNROLL)
                        for (int k = kk; k < ke; k++)
                            s += A[(size_t)i * n + k] * B[(size_t)k * n + j];
                        C[(size_t)i * n + j] = s;
                    }
#endif
            }
#endif
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512;
    if (n <= 0) {
        fprintf(stderr, "n must be positive\n");
        return 2;
    }
    double *A = malloc(sizeof(double) * (size_t)n * n);
    double *B = malloc(sizeof(double) * (size_t)n * n);
    double *C = malloc(sizeof(double) * (size_t)n * n);
    if (!A || !B || !C) {
        fprintf(stderr, "out of memory\n");
        return 3;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            A[(size_t)i * n + k] = ((i * 7 + k * 3) % 17) * 0.25 - 2.0;
            B[(size_t)i * n + k] = ((i * 5 + k * 11) % 13) * 0.25 - 1.5;
        }
    double t0 = now();
    matmul(n, A, B, C);
    double t1 = now();
    double checksum = 0.0, probe = 0.0, sumsq = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            checksum += C[(size_t)i * n + j];
            probe += C[(size_t)i * n + j] * ((i + 2 * j) % 7 + 1);
            sumsq += C[(size_t)i * n + j] * C[(size_t)i * n + j];
        }
    printf("time_s=%.9f\nchecksum=%.17g\nprobe=%.17g\nsumsq=%.17g\n", t1 - t0, checksum, probe, sumsq);
    free(A);
    free(B);
    free(C);
    return 0;
}
