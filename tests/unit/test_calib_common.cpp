// The CPU side of the calib/ benchmarks: sizes, statistics, launcher environments, rendezvous, and that the JSON
// they write is what moesim calibrate reads.
#include "calib_common.hpp"
#include "core/calibration/calib_input.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>
#include <unistd.h>

using namespace moesim::calib;

TEST_CASE("calib: sizes and statistics")
{
  CHECK(parse_size("8") == 8);
  CHECK(parse_size("64K") == 65536);
  CHECK(parse_size("1G") == 1073741824.0);
  CHECK_THROWS_AS(parse_size("1X"), CalibError);
  CHECK_THROWS_AS(parse_size("-4"), CalibError);
  const auto sizes = size_range(8, parse_size("1G"), 2);
  CHECK(sizes.size() == 28); // 2^3 .. 2^30
  CHECK(sizes.back() == 1073741824.0);
  CHECK_THROWS_AS(size_range(16, 8, 2), CalibError);
  const Stats s = stats_of({3, 1, 2, 10});
  CHECK(s.min == 1);
  CHECK(s.median == 2.5);
  CHECK(s.max == 10);
  CHECK_THROWS_AS(stats_of({}), CalibError);
}

TEST_CASE("calib: rank layout from mpirun, srun or nothing")
{
  CHECK(launch_info({}).world == 1);
  const auto ompi = launch_info({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "16"},
                                 {"OMPI_COMM_WORLD_LOCAL_RANK", "3"}});
  CHECK(ompi.rank == 3);
  CHECK(ompi.world == 16);
  CHECK(ompi.launcher == "openmpi");
  const auto slurm = launch_info({{"SLURM_PROCID", "9"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"}});
  CHECK(slurm.local_rank == 1);
  CHECK(slurm.launcher == "slurm");
  CHECK_THROWS_AS(launch_info({{"SLURM_PROCID", "16"}, {"SLURM_NTASKS", "16"}}), CalibError);
  CHECK_THROWS_AS(launch_info({{"PMI_RANK", "x"}, {"PMI_SIZE", "2"}}), CalibError);
}

TEST_CASE("calib: rendezvous shares rank 0's bytes")
{
  const std::string dir = "/tmp/moesim-rdv-" + std::to_string(::getpid());
  std::string got;
  std::thread reader([&] { got = rendezvous(dir, "id", 1, std::string(128, '?'), 10); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  rendezvous(dir, "id", 0, std::string(128, 'x'), 10);
  reader.join();
  CHECK(got == std::string(128, 'x'));
  CHECK_THROWS_AS(rendezvous(dir, "never", 1, std::string(8, '?'), 0.2), CalibError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("calib: the JSON report is what moesim calibrate reads")
{
  Report r("nccl");
  r.set_host("n1");
  r.add_gpu("NVIDIA H100 80GB HBM3", 0, "0000:1b:00");
  r.set_versions({{"nccl", "22902"}});
  r.set_ranks({"n1", "n1", "n2", "n2"});
  r.set_settings(5, 20);
  r.add({{"op", "alltoall"}, {"bytes", 1048576.0}, {"dtype", "float"}}, Stats{1e-5, 2e-5, 3e-5}, 20);
  r.add({{"op", "p2p"}, {"bytes", 4096.0}, {"src", 0}, {"dst", 2}}, Stats{1e-6, 2e-6, 3e-6}, 20);
  CHECK_THROWS_AS(r.set_ranks({"a", "a", "b"}), CalibError);
  const std::string path = "/tmp/moesim-calib-" + std::to_string(::getpid()) + ".json";
  r.write(path);
  const moesim::CalibInput in = moesim::read_calib_input(path);
  std::filesystem::remove(path);
  REQUIRE(in.measurements.size() == 2);
  CHECK(in.measurements[0].op == "alltoall");
  CHECK(in.measurements[0].nodes == 2);
  CHECK(in.measurements[0].gpus_per_node == 2);
  CHECK(in.measurements[0].time_s == 2e-5);
  CHECK(in.measurements[1].dst == 2);
}
