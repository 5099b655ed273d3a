// policies/algorithms/graph_partition: METIS k-way partitioning into parts of exactly equal size.
#include "algorithms/graph_partition.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace moesim;

TEST_CASE("Graph partition: two dense groups joined by a weak edge are cut apart, in equal parts")
{
  // Vertices 0-3 and 4-7 are cliques of weight 10; one edge of weight 1 joins 3 and 4.
  std::vector<std::vector<double>> w(8, std::vector<double>(8, 0.0));
  for (int a = 0; a < 8; ++a)
    for (int b = 0; b < 8; ++b)
      if (a != b && a / 4 == b / 4)
        w[a][b] = 10;
  w[3][4] = w[4][3] = 1;
  const auto part = policy::partition(w, 2, 1);
  REQUIRE(part.size() == 8);
  for (int v = 1; v < 4; ++v)
    CHECK(part[v] == part[0]);
  for (int v = 5; v < 8; ++v)
    CHECK(part[v] == part[4]);
  CHECK(part[0] != part[4]);
}

TEST_CASE("Graph partition: parts are exactly equal in size; an empty graph is packed by vertex weight")
{
  // A star around vertex 0: METIS alone would keep the hub's part large; the balancing pass evens the sizes.
  std::vector<std::vector<double>> star(9, std::vector<double>(9, 0.0));
  for (int b = 1; b < 9; ++b)
    star[0][b] = star[b][0] = 5;
  for (int parts : {3}) {
    const auto part = policy::partition(star, parts, 7);
    for (int p = 0; p < parts; ++p)
      CHECK(std::count(part.begin(), part.end(), p) == 9 / parts);
  }
  // No edges at all (top-1 routing): balanced packing of the weights, 2 vertices per part.
  const std::vector<std::vector<double>> empty(4, std::vector<double>(4, 0.0));
  const auto part = policy::partition(empty, 2, 1, {9, 1, 8, 2});
  CHECK(part[0] != part[2]); // the two heavy vertices are split
  CHECK(std::count(part.begin(), part.end(), 0) == 2);
  CHECK(policy::partition(empty, 1, 1) == std::vector<int>{0, 0, 0, 0});
}
