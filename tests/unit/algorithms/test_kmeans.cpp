// policies/algorithms/kmeans: activation vectors and their token-weighted k-means clusters.
#include "algorithms/kmeans.hpp"
#include "core/io/errors.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

using namespace moesim;

namespace {

// Even requests use experts 0..3, odd ones 4..7 (top-2 of 8, 2 layers).
Trace two_families(int requests)
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  std::vector<int> lens(requests, 6);
  return test::make_trace(m, lens, [](int r, int i, int l, int j) { return (r % 2) * 4 + (i + l + 2 * j) % 4; });
}

} // namespace

TEST_CASE("k-means: an activation vector is L2-normalised per layer and has unit norm overall")
{
  const Trace t = two_families(2);
  const auto x = policy::activation_vector(t, 1, 0, -1);
  double norm2 = 0;
  for (auto [i, v] : x) {
    CHECK(i % 8 >= 4); // request 1 uses experts 4..7 only
    norm2 += v * v;
  }
  CHECK(norm2 == Approx(1.0));
  // The first token alone: 2 experts per layer, equal counts -> each entry 1 / sqrt(2) / sqrt(2 layers).
  const auto first = policy::activation_vector(t, 0, 1, -1);
  REQUIRE(first.size() == 4);
  for (auto [i, v] : first)
    CHECK(v == Approx(0.5));
}

TEST_CASE("k-means: two request families become two clusters on two nodes, and new requests find theirs")
{
  const Trace t = two_families(12);
  std::vector<int32_t> fit;
  for (int32_t r = 0; r < 10; ++r)
    fit.push_back(r);
  const auto c = policy::fit_activation_clusters(t, fit, 2, 2, 3);
  REQUIRE(c.k == 2);
  REQUIRE(c.cluster_of_sample.size() == fit.size());
  for (size_t i = 0; i < fit.size(); ++i)
    CHECK(c.cluster_of_sample[i] == c.cluster_of_sample[i % 2]);
  CHECK(c.cluster_of_sample[0] != c.cluster_of_sample[1]);
  CHECK(std::set<int>(c.node_of_cluster.begin(), c.node_of_cluster.end()).size() == 2);
  // Held-out requests 10 (even) and 11 (odd): nearest centroid = their family's.
  CHECK(policy::nearest_clusters(c, policy::activation_vector(t, 10, 0, -1)).front() == c.cluster_of_sample[0]);
  CHECK(policy::nearest_clusters(c, policy::activation_vector(t, 11, 0, -1)).front() == c.cluster_of_sample[1]);
  // Same seed, same clusters.
  CHECK(policy::fit_activation_clusters(t, fit, 2, 2, 3).cluster_of_sample == c.cluster_of_sample);
  CHECK_THROWS_AS(policy::fit_activation_clusters(t, {0}, 2, 2, 3), UsageError);
}
