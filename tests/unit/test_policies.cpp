#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace moesim;

TEST_CASE("linear and round_robin placements are registered and place every expert once")
{
  const ModelSpec m = test::tiny_model(2, 16, 2);
  Trace t = test::make_trace(m, {2}, [](int, int, int, int j) { return j; });
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  std::vector<int32_t> fit{0};
  PlacementContext ctx{m, c, t, fit, 0, 1};
  Placement lin = PlacementRegistry::instance().get("linear", "placement").fn(ctx);
  lin.validate(2, 16, 4, "linear");
  CHECK(lin.replicas[0][0] == std::vector<int>{0});
  CHECK(lin.replicas[0][5] == std::vector<int>{1});
  CHECK(lin.replicas[1][15] == std::vector<int>{3});
  Placement rr = PlacementRegistry::instance().get("round_robin", "placement").fn(ctx);
  CHECK(rr.replicas[0][5] == std::vector<int>{1});
  CHECK(rr.replicas[0][6] == std::vector<int>{2});
  Cluster c3 = Cluster::uniform(1, 3, h100_sxm());
  PlacementContext uneven{m, c3, t, fit, 0, 1};
  // 16 experts on 3 GPUs: 6, 5, 5 (the first GPU takes the remainder, as vLLM's expert map does).
  Placement lin3 = PlacementRegistry::instance().get("linear", "placement").fn(uneven);
  lin3.validate(2, 16, 3, "linear");
  CHECK(lin3.replicas[0][5] == std::vector<int>{0});
  CHECK(lin3.replicas[0][6] == std::vector<int>{1});
  CHECK(lin3.replicas[0][11] == std::vector<int>{2});
  // 16 experts on 24 GPUs: GPU g holds expert g * 16 / 24, every expert on one or two GPUs.
  Cluster c24 = Cluster::uniform(3, 8, h100_sxm());
  PlacementContext wide{m, c24, t, fit, 0, 1};
  Placement lin24 = PlacementRegistry::instance().get("linear", "placement").fn(wide);
  lin24.validate(2, 16, 24, "linear");
  CHECK(lin24.replicas[0][0] == std::vector<int>{0, 1});
  CHECK(lin24.replicas[0][1] == std::vector<int>{2});
  Placement rr24 = PlacementRegistry::instance().get("round_robin", "placement").fn(wide);
  CHECK(rr24.replicas[0][3] == std::vector<int>{3, 19});
}

TEST_CASE("Unknown policy names list the known ones")
{
  CHECK_THROWS_WITH(PlacementRegistry::instance().get("magic", "placement"),
                    Catch::Matchers::StartsWith("unknown placement policy 'magic' (known: ") &&
                        Catch::Matchers::Contains("linear"));
}

TEST_CASE("Groupings: round_robin deals in arrival order; random is a seeded balanced shuffle")
{
  const ModelSpec m = test::tiny_model(1, 4, 1);
  Trace t = test::make_trace(m, std::vector<int>(10, 1), [](int, int, int, int) { return 0; });
  Cluster c = Cluster::uniform(1, 4, h100_sxm());
  std::vector<int32_t> reqs(10);
  std::iota(reqs.begin(), reqs.end(), 0);
  GroupingContext ctx{c, t, reqs, 4, 42};
  Grouping rr = GroupingRegistry::instance().get("round_robin", "grouping").fn(ctx);
  CHECK(rr.gpu_of_request == std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  Grouping r1 = GroupingRegistry::instance().get("random", "grouping").fn(ctx);
  Grouping r2 = GroupingRegistry::instance().get("random", "grouping").fn(ctx);
  CHECK(r1.gpu_of_request == r2.gpu_of_request);
  std::vector<int> per_gpu(4, 0);
  for (int g : r1.gpu_of_request)
    ++per_gpu[g];
  CHECK(per_gpu == std::vector<int>{3, 3, 2, 2});
  GroupingContext other{c, t, reqs, 4, 43};
  CHECK(GroupingRegistry::instance().get("random", "grouping").fn(other).gpu_of_request != r1.gpu_of_request);
}
