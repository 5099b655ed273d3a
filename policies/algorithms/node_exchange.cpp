#include "algorithms/node_exchange.hpp"

namespace moesim::policy {

void exchange_between_nodes(const std::vector<std::vector<std::vector<double>>>& demand, int l,
                            std::vector<int>& node_of)
{
  const int E = static_cast<int>(node_of.size());
  for (bool improved = true; improved;) {
    improved = false;
    for (int a = 0; a < E; ++a)
      for (int b = a + 1; b < E; ++b) {
        const int na = node_of[a], nb = node_of[b];
        if (na != nb && demand[nb][l][a] + demand[na][l][b] > demand[na][l][a] + demand[nb][l][b]) {
          node_of[a] = nb;
          node_of[b] = na;
          improved = true;
        }
      }
  }
}

} // namespace moesim::policy
