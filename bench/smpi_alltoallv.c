/* The all-to-alls of moesim decode layers replayed with MPI_Alltoallv under SMPI (SimGrid's MPI simulator), for the
 * wall-time comparison in bench/smpi_compare.sh. Input: a binary file written by bench/smpi_matrices.py:
 * int64 layers, int64 ranks, then per layer the dispatch byte matrix D [ranks][ranks] (row = sender) and its
 * transpose, int64 each. Per layer: dispatch (send D[r], receive D^T[r]) then combine (BF16 back: the transposed
 * counts scaled by combine/dispatch bytes per token, argv[2] as a ratio). Buffers are SMPI shared (no real data). */
#include <mpi.h>
#include <smpi/smpi.h>
#include <stdio.h>
#include <stdlib.h>

static void read_row(FILE* f, long offset, int n, long long* row)
{
  if (fseek(f, offset, SEEK_SET) != 0 || fread(row, sizeof(long long), (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "smpi_alltoallv: truncated matrix file\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
}

int main(int argc, char** argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 3) {
    if (rank == 0)
      fprintf(stderr, "usage: smpi_alltoallv MATRICES.bin COMBINE_RATIO\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const double ratio = atof(argv[2]);
  FILE* f = fopen(argv[1], "rb");
  long long hdr[2];
  if (!f || fread(hdr, sizeof hdr, 1, f) != 1 || hdr[1] != size) {
    fprintf(stderr, "smpi_alltoallv: cannot read %s or its rank count differs from %d\n", argv[1], size);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const int layers = (int)hdr[0], n = size;
  long long* d = malloc(sizeof(long long) * n);
  long long* dt = malloc(sizeof(long long) * n);
  int *sc = malloc(sizeof(int) * n), *sd = malloc(sizeof(int) * n), *rc = malloc(sizeof(int) * n),
      *rd = malloc(sizeof(int) * n);
  /* Buffers as large as the largest layer needs (shared: SMPI keeps no real data). */
  long long need = 1;
  for (int l = 0; l < layers; ++l) {
    const long base = 16 + (long)l * 2 * n * n * 8;
    read_row(f, base + (long)rank * n * 8, n, d);
    read_row(f, base + (long)n * n * 8 + (long)rank * n * 8, n, dt);
    long long so = 0, ro = 0;
    for (int p = 0; p < n; ++p) {
      so += d[p] + (long long)(dt[p] * ratio);
      ro += dt[p] + (long long)(d[p] * ratio);
    }
    need = so > need ? so : need;
    need = ro > need ? ro : need;
  }
  if (need > (1LL << 30)) {
    fprintf(stderr, "smpi_alltoallv: more than 1 GiB per rank\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  char* sbuf = SMPI_SHARED_MALLOC((size_t)need);
  char* rbuf = SMPI_SHARED_MALLOC((size_t)need);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int l = 0; l < layers; ++l) {
    const long base = 16 + (long)l * 2 * n * n * 8;
    read_row(f, base + (long)rank * n * 8, n, d);
    read_row(f, base + (long)n * n * 8 + (long)rank * n * 8, n, dt);
    for (int phase = 0; phase < 2; ++phase) {
      int so = 0, ro = 0;
      for (int p = 0; p < n; ++p) {
        sc[p] = (int)(phase == 0 ? d[p] : dt[p] * ratio);
        rc[p] = (int)(phase == 0 ? dt[p] : d[p] * ratio);
        sd[p] = so;
        rd[p] = ro;
        so += sc[p];
        ro += rc[p];
      }
      MPI_Alltoallv(sbuf, sc, sd, MPI_BYTE, rbuf, rc, rd, MPI_BYTE, MPI_COMM_WORLD);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0)
    printf("simulated %d all-to-alls in %.6f s\n", 2 * layers, MPI_Wtime() - t0);
  SMPI_SHARED_FREE(sbuf);
  SMPI_SHARED_FREE(rbuf);
  fclose(f);
  MPI_Finalize();
  return 0;
}
